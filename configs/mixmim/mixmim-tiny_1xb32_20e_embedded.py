# The README's demo: the MixMIM-B recipe (mixmim-b_8xb128_600e.py) with a
# tiny encoder on the embedded 128x128 data, on one CPU in a few minutes.
# Only the sizes, the data and the length are overridden; the optimizer,
# its parameter groups, the precision policy and the runtime are the real
# recipe's. Windows 8-8-8-4 tile the 32/16/8/4 token maps at 128; the
# 32-pixel mix units form a 4x4 grid (the decoder's 16 tokens).
_base_ = './mixmim-b_8xb128_600e.py'

model = dict(
    backbone=dict(arch='tiny', img_size=128, window_size=[8, 8, 8, 4]),
    neck=dict(decoder_embed_dim=128, decoder_depth=2, decoder_num_heads=4))

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
        input_size=128),
    dict(type='PackInputs', algorithm_keys=['mix_mask']),
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
