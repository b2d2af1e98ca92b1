# Fine-tuning the tiny MixMIM of the demo on the embedded ImageNet-style set
# (10 classes, 600 train / 200 val images of 128x128): 2 epochs on a CPU in
# about a minute, evaluated by mmpretrain's Accuracy (top-1 / top-5). The
# B recipe at toy scale: AdamW, layer decay 0.7 (mmpretrain's constructor),
# drop path 0.1, label smoothing 0.1, RandomResizedCrop + flip. Run (after
# `make demo`):
#   python tools/train.py configs/mixmim/benchmarks/mixmim-tiny_1xb32-ft-2e_embedded.py  # noqa: E501
_base_ = '../../_base_/default_runtime.py'

pretrained = 'work_dirs/mixmim-tiny_1xb32_20e_embedded/epoch_20.pth'
data_root = 'data/embedded/imagenet/'

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='MixMIMEncoder',
        arch='tiny',
        img_size=128,
        window_size=[8, 8, 8, 4],
        drop_path_rate=0.1,
        out_type='avg_featmap',
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=512,
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=dict(type='TruncNormal', layer='Linear', std=0.02)))
data_preprocessor = dict(
    num_classes=10,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=128,
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
train_dataloader = dict(
    batch_size=32,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='ImageNet',
        data_root=data_root,
        ann_file='meta/train.txt',
        data_prefix='train',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=50,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='ImageNet',
        data_root=data_root,
        ann_file='meta/val.txt',
        data_prefix='val',
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_evaluator = val_evaluator

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
    constructor='LearningRateDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.7, flat_decay_mult=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=5),
    dict(
        type='CosineAnnealingLR',
        T_max=2,
        by_epoch=True,
        begin=0,
        end=2,
        convert_to_iter_based=True)
]
train_cfg = dict(by_epoch=True, max_epochs=2, val_interval=1)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(
    logger=dict(interval=5), checkpoint=dict(interval=1, max_keep_ckpts=1))
