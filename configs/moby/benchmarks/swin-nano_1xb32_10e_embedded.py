# Fine-tuning the nano MoBY Swin of moby-swin-nano_1xb32_30e_embedded.py on
# the embedded ImageNet-style set (10 classes, 600 train / 200 val images of
# 128x128, at the 64x64 input it was pretrained on) on a CPU: the Swin-T
# recipe of swin-t_16xb64-ft-300e_in1k.py (mmpretrain's supervised Swin-T:
# AdamW lr 1e-3, drop path 0.2, RandAugment, random erasing, mixup / cutmix,
# label smoothing, gradient clipping, warmup then cosine) with the encoder
# size, the data, the batch and the length overridden. The learning-signal
# tool (`--protocol finetune`) runs it from the pretraining checkpoint's
# online encoder and from the pretraining's random initialisation.
_base_ = './swin-t_16xb64-ft-300e_in1k.py'

pretrained = 'work_dirs/moby-swin-nano_1xb32_30e_embedded/epoch_30.pth'
data_root = 'data/embedded/imagenet/'
img_size = 64
max_epochs = 10

model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True,
            embed_dims=32,
            depths=[2, 2, 2],
            num_heads=[1, 2, 4]),
        img_size=img_size,
        window_size=4,
        out_indices=(2, ),
        init_cfg=dict(checkpoint=pretrained)),
    head=dict(num_classes=10, in_channels=128))
data_preprocessor = dict(num_classes=10)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=img_size,
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandAugment',
        policies='timm_increasing',
        num_policies=2,
        total_level=10,
        magnitude_level=9,
        magnitude_std=0.5,
        hparams=dict(pad_val=[104, 116, 124], interpolation='bicubic')),
    dict(
        type='RandomErasing',
        erase_prob=0.25,
        mode='rand',
        min_area_ratio=0.02,
        max_area_ratio=1 / 3,
        fill_color=[103.53, 116.28, 123.675],
        fill_std=[57.375, 57.12, 58.395]),
    dict(type='PackInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='ResizeEdge',
        scale=img_size * 256 // 224,
        edge='short',
        backend='pillow',
        interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='PackInputs')
]
train_dataloader = dict(
    batch_size=32,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=50,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        begin=0,
        end=1,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - 1,
        by_epoch=True,
        begin=1,
        end=max_epochs,
        eta_min=1e-5,
        convert_to_iter_based=True)
]
train_cfg = dict(max_epochs=max_epochs)
default_hooks = dict(
    logger=dict(interval=5), checkpoint=dict(interval=5, max_keep_ckpts=1))
auto_scale_lr = dict(base_batch_size=32)
