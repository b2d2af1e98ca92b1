# MixMIM-B, 600 pretraining epochs on ImageNet-1k, 8 GPUs x 128 images, fp16
# mixed precision (as the authors). Reported: 85.1 top-1 after fine-tuning.
_base_ = [
    '../_base_/models/mixmim_b.py',
    '../_base_/datasets/imagenet_pretrain.py',
    '../_base_/schedules/mixmim_pretrain.py',
    '../_base_/default_runtime.py',
]

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
        input_size=224,
        window_size=[14, 14, 14, 7]),
    dict(type='PackInputs', algorithm_keys=['mix_mask']),
]
train_dataloader = dict(batch_size=128, dataset=dict(pipeline=train_pipeline))
