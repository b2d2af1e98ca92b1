# Fine-tuning the tiny MAE of mae-tiny_1xb32_20e_embedded.py on the embedded
# ImageNet-style set (10 classes, 600 train / 200 val images of 128x128) on a
# CPU: the MAE ViT-B/16 recipe (vit-b-p16_8xb128_100e_in1k.py: AdamW lr 2e-3,
# layer decay 0.65, drop path 0.1, RandAugment, random erasing, mixup /
# cutmix, label smoothing, 5 % warmup then cosine) with the encoder size,
# the data, the batch and the length overridden. The learning-signal tool
# (`--protocol finetune`) runs it from the pretraining checkpoint and from
# the pretraining's random initialisation.
_base_ = './vit-b-p16_8xb128_100e_in1k.py'

pretrained = 'work_dirs/mae-tiny_1xb32_20e_embedded/epoch_20.pth'
data_root = 'data/embedded/imagenet/'
img_size = 128
max_epochs = 10

model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True,
            embed_dims=64,
            num_layers=4,
            num_heads=4,
            feedforward_channels=256),
        img_size=img_size,
        init_cfg=dict(checkpoint=pretrained)),
    head=dict(num_classes=10, in_channels=64))
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
        start_factor=1e-4,
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
        eta_min=1e-6,
        convert_to_iter_based=True)
]
train_cfg = dict(max_epochs=max_epochs)
default_hooks = dict(
    logger=dict(interval=5), checkpoint=dict(interval=5, max_keep_ckpts=1))
auto_scale_lr = dict(base_batch_size=32)
