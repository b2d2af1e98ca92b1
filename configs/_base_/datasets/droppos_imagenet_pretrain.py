# ImageNet-1k for DropPos pretraining: RandomResizedCrop (0.2, 1) + flip,
# then the patch and position masks (0.75 and 0.75: 196 -> 49 visible -> 12
# keep their position).
_base_ = './imagenet_pretrain.py'

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=224,
        crop_ratio_range=(0.2, 1.0),
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='DropPositionMask',
        patch_size=16,
        mask_ratio=0.75,
        pos_mask_ratio=0.75,
        input_size=224),
    dict(type='PackInputs', algorithm_keys=['patch_mask', 'pos_mask']),
]
train_dataloader = dict(batch_size=64, dataset=dict(pipeline=train_pipeline))
