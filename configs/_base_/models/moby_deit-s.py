# MoBY with DeiT-S (authors' moby_deit_small.yaml): the encoder output is the
# final-normed class token (384); otherwise as moby_swin-t.py.
_base_ = './moby_swin-t.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='VisionTransformer',
        arch='deit-small',
        img_size=224,
        patch_size=16,
        out_type='cls_token',
        final_norm=True,
        init_cfg=[
            dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.),
            dict(type='Constant', layer='LayerNorm', val=1., bias=0.)
        ]),
    neck=dict(in_channels=384, with_avg_pool=False))
