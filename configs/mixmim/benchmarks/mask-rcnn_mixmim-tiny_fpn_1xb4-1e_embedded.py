# Mask R-CNN + FPN with the tiny MixMIM of the demo on the embedded COCO set
# (4 shape categories, 48 train / 16 val images of 160x160): one epoch on a
# CPU in well under a minute, evaluated by mmdet's CocoMetric (bbox and segm
# AP; near zero after so little training). The dense backbone setting of the
# full configs at toy scale: windows 8-8-8-4, global attention in block 2 of
# stage 3 and in stage 4 (the 40/20/10/5 maps of a 160 input are padded to
# the windows where they do not divide), layer decay from the plugin's
# constructor. Run (after `make demo`):
#   mim train mmdet configs/mixmim/benchmarks/mask-rcnn_mixmim-tiny_fpn_1xb4-1e_embedded.py  # noqa: E501
_base_ = [
    'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
    '../../_base_/fault_tolerance.py',
]

custom_imports = dict(imports=['mixmim_plugin'], allow_failed_imports=False)

pretrained = 'work_dirs/mixmim-tiny_1xb32_20e_embedded/epoch_20.pth'
data_root = 'data/embedded/coco/'
metainfo = dict(classes=('circle', 'square', 'triangle', 'star'))
channels = 64

model = dict(
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
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=channels),
    rpn_head=dict(in_channels=channels, feat_channels=channels),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=channels),
        bbox_head=dict(
            in_channels=channels, fc_out_channels=128, num_classes=4),
        mask_roi_extractor=dict(out_channels=channels),
        mask_head=dict(
            in_channels=channels, conv_out_channels=channels, num_classes=4)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=300, max_per_img=100),
        rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(
        rpn=dict(nms_pre=300, max_per_img=100), rcnn=dict(max_per_img=20)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=(160, 160), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(160, 160), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        filter_cfg=dict(filter_empty_gt=True, min_size=8),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root, metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator

optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=2e-4, weight_decay=0.05),
    constructor='mixmim_plugin.BackboneLayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.8, flat_decay_mult=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=4)
]
train_cfg = dict(max_epochs=1, val_interval=1)
default_hooks = dict(
    logger=dict(interval=4), checkpoint=dict(interval=1, max_keep_ckpts=1))
auto_scale_lr = dict(base_batch_size=4)
# a COCO-format set with other categories fails before the first iteration
# with the keys to set (README "Your own data"), not inside the evaluator
custom_hooks = [dict(type='mixmim_plugin.CocoClassesCheckHook')]
