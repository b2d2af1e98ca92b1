# A tiny hierarchical DropPos (MixMIM encoder) on the embedded 128x128 data,
# one CPU: 32-pixel units, a 4x4 grid of 16 positions; mask ratio 0.5:
# 16 -> 8 visible -> 2 keep their position, 6 shuffled and predicted.
# Windows 8-8-8-4 tile the 32/16/8/4 token maps.
_base_ = './droppos-tiny_1xb32_20e_embedded.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='DropPosMixMIM',
        arch='tiny',
        img_size=128,
        window_size=[8, 8, 8, 4]))

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
        type='DropPositionMask',
        patch_size=32,
        mask_ratio=0.5,
        pos_mask_ratio=0.75,
        input_size=128),
    dict(type='PackInputs', algorithm_keys=['patch_mask', 'pos_mask']),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
