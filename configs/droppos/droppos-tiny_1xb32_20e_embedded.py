# A tiny DropPos ViT pretrained on the embedded 128x128 data on one CPU in a
# few minutes (bf16 autocast): 16-pixel patches, an 8x8 grid of 64
# positions; 64 -> 16 visible -> 4 keep their position, 12 to predict.
_base_ = [
    '../_base_/datasets/embedded_imagenet_pretrain.py',
    '../_base_/default_runtime.py',
]

model = dict(
    type='DropPos',
    backbone=dict(type='DropPosViT', arch='tiny', img_size=128, patch_size=16),
    neck=dict(
        type='DropPosDecoder',
        in_channels=64,
        embed_dims=128,
        depth=2,
        num_heads=4,
        num_positions=64),
    head=dict(type='DropPosHead', grid=8, sigma=1.0, attentive=True, tau=0.1),
    init_cfg=[
        dict(type='Xavier', layer='Linear', distribution='uniform'),
        dict(type='Constant', layer='LayerNorm', val=1.0, bias=0.0)
    ])

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
        patch_size=16,
        mask_ratio=0.75,
        pos_mask_ratio=0.75,
        input_size=128),
    dict(type='PackInputs', algorithm_keys=['patch_mask', 'pos_mask']),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

max_epochs = 20
# bf16 autocast on the CPU for speed (fp16 AMP on a GPU), the authors'
# per-parameter gradient clipping
optim_wrapper = dict(
    type='DeviceAmpOptimWrapper',
    optimizer=dict(
        type='AdamW',
        lr=1e-3,
        betas=(0.9, 0.95),
        weight_decay=0.05,
        fused=True),
    clip_grad=dict(type='per_param_norm', max_norm=5.0),
    paramwise_cfg=dict(flat_decay_mult=0.0))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        begin=0,
        end=2,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - 2,
        by_epoch=True,
        begin=2,
        end=max_epochs,
        convert_to_iter_based=True)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
custom_hooks = [
    dict(type='DropPosSigmaHook', start=1.0, end=0.0, by_epoch=True)
]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=6),
    checkpoint=dict(type='CheckpointHook', interval=5, max_keep_ckpts=2))
auto_scale_lr = dict(base_batch_size=32)
