# MixMIM on a small plain ViT (patch 16) for the embedded 128x128 data on
# one CPU (bf16 autocast), as mixmim-tiny_1xb32_20e_embedded.py: 8x8 = 64
# decoder tokens of 16x16 px; the 32-px mix units form a 4x4 grid.
_base_ = './mixmim-tiny_1xb32_20e_embedded.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='MixMIMViT',
        arch=dict(
            embed_dims=192,
            num_layers=6,
            num_heads=3,
            feedforward_channels=768),
        img_size=128,
        patch_size=16,
        init_cfg=[
            dict(type='Xavier', layer='Linear', distribution='uniform'),
            dict(type='Constant', layer='LayerNorm', val=1.0, bias=0.0)
        ]),
    neck=dict(num_patches=64, in_channels=192, patch_size=16),
    head=dict(patch_size=16))

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
        encoder_strides=[16]),
    dict(type='PackInputs', algorithm_keys=['mix_mask']),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
