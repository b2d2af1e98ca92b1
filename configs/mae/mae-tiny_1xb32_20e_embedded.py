# A tiny MAE on the embedded 128x128 data on one CPU: the MAE-B recipe
# (mae-b_8xb512_800e.py) with the encoder size, data and schedule of the
# tiny DropPos config: 16-pixel patches, 64 -> 16 visible.
_base_ = './mae-b_8xb512_800e.py'

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

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=128,
        crop_ratio_range=(0.5, 1.0),
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs'),
]
# the embedded ImageNet-style set (tools/data/make_embedded_data.py)
train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    pin_memory=False,
    dataset=dict(data_root='data/embedded/imagenet/', pipeline=train_pipeline))

# 20 epochs of 18 steps: a larger lr and a 2-epoch warmup
max_epochs = 20
warmup_epochs = 2
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - warmup_epochs,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True)
]
train_cfg = dict(max_epochs=max_epochs)
default_hooks = dict(
    logger=dict(interval=6), checkpoint=dict(interval=5, max_keep_ckpts=2))
auto_scale_lr = dict(base_batch_size=32)
