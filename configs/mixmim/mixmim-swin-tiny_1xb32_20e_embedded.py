# MixMIM on a small Swin (shifted windows) for the embedded 128x128 data on
# one CPU (bf16 autocast), as mixmim-tiny_1xb32_20e_embedded.py. Window 4
# tiles the 32/16/8/4 stage maps (shifted in stages 1-3; the last stage is
# one window); the last stage gives 4x4 = 16 decoder tokens of 512
# channels, one per 32-px mix unit.
_base_ = './mixmim-tiny_1xb32_20e_embedded.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='MixMIMSwin',
        arch=dict(embed_dims=64, depths=[2, 2, 2, 2], num_heads=[2, 4, 8, 16]),
        img_size=128,
        window_size=4,
        drop_path_rate=0.0,
        out_indices=(3, ),
        init_cfg=[
            dict(type='Xavier', layer='Linear', distribution='uniform'),
            dict(type='Constant', layer='LayerNorm', val=1.0, bias=0.0)
        ]),
    neck=dict(num_patches=16, in_channels=512, patch_size=32),
    head=dict(patch_size=32))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=128,
        crop_ratio_range=(0.5, 1.0),
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='MixMaskGenerator',
        mask_patch_size=32,
        mask_ratio=0.5,
        input_size=128,
        encoder_strides=[4, 8, 16, 32]),
    dict(type='PackInputs', algorithm_keys=['mix_mask']),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
