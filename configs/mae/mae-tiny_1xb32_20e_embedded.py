# A tiny MAE on the embedded 128x128 data on one CPU (bf16 autocast), with
# the same encoder size, data and schedule as the tiny DropPos config:
# 16-pixel patches, 64 -> 16 visible.
_base_ = [
    'mmpretrain::_base_/models/mae_vit-base-p16.py',
    '../_base_/datasets/embedded_imagenet_pretrain.py',
    '../_base_/default_runtime.py',
]

model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True,
            embed_dims=64,
            num_layers=4,
            num_heads=4,
            feedforward_channels=256),
        img_size=128),
    neck=dict(
        num_patches=64,
        embed_dim=64,
        decoder_embed_dim=128,
        decoder_depth=2,
        decoder_num_heads=4))

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
        custom_keys={
            'ln': dict(decay_mult=0.0),
            'bias': dict(decay_mult=0.0),
            'pos_embed': dict(decay_mult=0.),
            'mask_token': dict(decay_mult=0.),
            'cls_token': dict(decay_mult=0.)
        }))
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
