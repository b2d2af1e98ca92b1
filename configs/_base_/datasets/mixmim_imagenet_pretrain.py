# ImageNet-1k for MixMIM pretraining: RandomResizedCrop (0.2, 1) + flip,
# then the per-sample mix mask on 32-pixel units (a 7x7 grid at 224, half
# of the units from the partner image). The encoder checks on every batch
# that a unit covers whole tokens and that its windows tile each stage map,
# from its own strides and windows.
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
        type='MixMaskGenerator',
        mask_patch_size=32,
        mask_ratio=0.5,
        input_size=224),
    dict(type='PackInputs', algorithm_keys=['mix_mask']),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
