# Fine-tuning a MixMIM-B on ImageNet-1k at 384x384: the 224 recipe
# (mixmim-b_8xb128-ft-100e_in1k.py) at 384 with windows 16-16-24-12 (stages
# 3 and 4 are global on their 24x24 and 12x12 maps; the pretrained
# 14-14-14-7 bias tables and the 56x56 position embedding are resized on
# load), batch 8 x 64 with the lr scaled to it (5e-4 x 512 / 256); test:
# resize 384 + center crop 384. Reported: 86.3.
_base_ = './mixmim-b_8xb128-ft-100e_in1k.py'

model = dict(backbone=dict(img_size=384, window_size=[16, 16, 24, 12]))

bgr_mean = [103.53, 116.28, 123.675]
bgr_std = [57.375, 57.12, 58.395]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=384,
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
        hparams=dict(
            pad_val=[round(x) for x in bgr_mean], interpolation='bicubic')),
    dict(
        type='RandomErasing',
        erase_prob=0.25,
        mode='rand',
        min_area_ratio=0.02,
        max_area_ratio=1 / 3,
        fill_color=bgr_mean,
        fill_std=bgr_std),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='ResizeEdge',
        scale=384,
        edge='short',
        backend='pillow',
        interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=384),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=64, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=32, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=5e-4 * 512 / 256))
auto_scale_lr = dict(base_batch_size=512)
