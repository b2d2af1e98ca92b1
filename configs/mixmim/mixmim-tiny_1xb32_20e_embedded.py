# The README's demo: a tiny MixMIM pretrained on the embedded 128x128 data on
# one CPU in a few minutes. Windows 8-8-8-4 tile the 32/16/8/4
# token maps at 128; the 32-pixel mix units form a 4x4 grid.
_base_ = [
    '../_base_/datasets/embedded_imagenet_pretrain.py',
    '../_base_/default_runtime.py',
]

model = dict(
    type='MixMIMPretrainer',
    backbone=dict(
        type='MixMIMEncoder',
        arch='tiny',
        img_size=128,
        window_size=[8, 8, 8, 4]),
    neck=dict(
        type='MixMIMDualDecoder',
        num_patches=16,
        in_channels=512,
        patch_size=32,
        decoder_embed_dim=128,
        decoder_depth=2,
        decoder_num_heads=4),
    head=dict(
        type='MixMIMDualHead',
        norm_pix=True,
        patch_size=32,
        loss=dict(type='PixelReconstructionLoss', criterion='L2')))

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
        window_size=[8, 8, 8, 4]),
    dict(type='PackInputs', algorithm_keys=['mix_mask']),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

max_epochs = 20
# bf16 autocast on a CPU with bf16 instructions, fp32 on one without
# (where bf16 is emulated), fp16 AMP on a GPU
optim_wrapper = dict(
    type='DeviceAmpOptimWrapper',
    optimizer=dict(
        type='AdamW',
        lr=1e-3,
        betas=(0.9, 0.95),
        weight_decay=0.05,
        fused=True),
    paramwise_cfg=dict(
        flat_decay_mult=0.0, custom_keys={'mask_token': dict(decay_mult=0.0)}))
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
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=6),
    checkpoint=dict(type='CheckpointHook', interval=5, max_keep_ckpts=2))
auto_scale_lr = dict(base_batch_size=32)
