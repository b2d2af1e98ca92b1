# Linear evaluation of a MoBY DeiT-S: the frozen encoder's final-normed class
# token, one linear layer; schedule and data as the Swin-T linear config.
_base_ = './swin-t_8xb64-linear-coslr-100e_in1k.py'

pretrained = 'work_dirs/moby-deit-s_8xb64_300e/epoch_300.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='VisionTransformer',
        arch='deit-small',
        img_size=224,
        patch_size=16,
        out_type='cls_token',
        final_norm=True,
        drop_path_rate=0.0,
        frozen_stages=12,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=None,
    head=dict(
        _delete_=True,
        type='VisionTransformerClsHead',
        num_classes=1000,
        in_channels=384,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        init_cfg=dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.)))
