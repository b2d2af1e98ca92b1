# UPerNet with the tiny MAE ViT of mae-tiny_1xb32_20e_embedded.py on the
# embedded ADE20K-style set (7 ADE classes in the 150-class label space, 48
# train / 16 val images of 128x128) on a CPU: the MAE ViT-B setting of
# upernet_vit-b-p16_8xb2-160k_ade20k-512x512.py (plain ViT, the maps of four
# blocks through mmseg's Feature2Pyramid, AdamW with layer decay 0.65,
# sliding-window test with 2/3 overlap) with the encoder size, the heads'
# widths, the data and the schedule of the tiny MixMIM one
# (upernet_mixmim-tiny_1xb4-20i_embedded.py). Run (after pretraining that
# config):
#   mim train mmseg configs/mae/benchmarks/upernet_vit-tiny-p16_1xb4-20i_embedded.py  # noqa: E501
_base_ = './upernet_vit-b-p16_8xb2-160k_ade20k-512x512.py'

pretrained = 'work_dirs/mae-tiny_1xb32_20e_embedded/epoch_20.pth'
data_root = 'data/embedded/ade/ADEChallengeData2016'
crop_size = (128, 128)
channels = 64

model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        arch=dict(
            _delete_=True,
            embed_dims=channels,
            num_layers=4,
            num_heads=4,
            feedforward_channels=256),
        img_size=crop_size,
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(checkpoint=pretrained)),
    neck=dict(embed_dim=channels),
    decode_head=dict(in_channels=[channels] * 4, channels=channels),
    auxiliary_head=dict(in_channels=channels, channels=channels // 2),
    test_cfg=dict(
        crop_size=crop_size, stride=tuple(s * 2 // 3 for s in crop_size)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(
        type='RandomResize',
        scale=(256, 128),
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(256, 128), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=2e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=4),
    dict(type='PolyLR', power=1.0, by_epoch=False, begin=4, end=20)
]
train_cfg = dict(max_iters=20, val_interval=20)
default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(interval=20, max_keep_ckpts=1),
    visualization=dict(draw=False))
