# UPerNet with the tiny MixMIM of the demo on the embedded ADE20K-style set
# (7 ADE classes in the 150-class label space, 48 train / 16 val images of
# 128x128): 20 iterations on a CPU in well under a minute, evaluated by
# mmseg's IoUMetric (mIoU; near zero after so little training). The dense
# backbone setting of the full configs at toy scale (windows 8-8-8-4,
# global blocks) with the plugin's layer-decay constructor. Run (after
# `make demo`):
#   mim train mmseg configs/mixmim/benchmarks/upernet_mixmim-tiny_1xb4-20i_embedded.py  # noqa: E501
_base_ = [
    ('mmseg::swin/swin-tiny-patch4-window7-in1k-pre_'
     'upernet_8xb2-160k_ade20k-512x512.py'),
    '../../_base_/fault_tolerance.py',
]

custom_imports = dict(imports=['mixmim_plugin'], allow_failed_imports=False)

pretrained = 'work_dirs/mixmim-tiny_1xb32_20e_embedded/epoch_20.pth'
data_root = 'data/embedded/ade/ADEChallengeData2016'
crop_size = (128, 128)
norm_cfg = dict(type='BN', requires_grad=True)

model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        _delete_=True,
        type='mixmim_plugin.MixMIMEncoder',
        arch='tiny',
        img_size=128,
        window_size=[8, 8, 8, 4],
        global_blocks=[[], [], [2], [0]],
        drop_path_rate=0.1,
        out_indices=(0, 1, 2, 3),
        out_type='featmap',
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    decode_head=dict(
        in_channels=[64, 128, 256, 512], channels=64, norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=256, channels=32, norm_cfg=norm_cfg))

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

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-4, weight_decay=0.05),
    constructor='mixmim_plugin.BackboneLayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.8, flat_decay_mult=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=4),
    dict(type='PolyLR', power=1.0, by_epoch=False, begin=4, end=20)
]
train_cfg = dict(max_iters=20, val_interval=20)
default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(interval=20, max_keep_ckpts=1),
    visualization=dict(draw=False))
