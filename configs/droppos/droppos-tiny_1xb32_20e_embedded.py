# A tiny DropPos ViT on the embedded 128x128 data on one CPU in a few
# minutes: the DropPos ViT-B AMP recipe (droppos-b_8xb64_800e_fp16.py: bf16
# autocast on a CPU with bf16 instructions, fp32 on one without) with the
# sizes, the data and the length overridden. 16-pixel patches, an 8x8 grid
# of 64 positions; 64 -> 16 visible -> 4 keep their position, 12 to predict.
_base_ = './droppos-b_8xb64_800e_fp16.py'

model = dict(
    backbone=dict(arch='tiny', img_size=128),
    neck=dict(embed_dims=128, num_heads=4))

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
