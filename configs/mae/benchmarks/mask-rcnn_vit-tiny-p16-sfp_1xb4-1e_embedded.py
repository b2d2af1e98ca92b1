# Mask R-CNN with the tiny MAE ViT of mae-tiny_1xb32_20e_embedded.py on the
# embedded COCO set (4 shape categories, 48 train / 16 val images of
# 160x160) on a CPU: the MAE ViT-B setting of
# mask-rcnn_vit-b-p16-sfp_8xb2-1x_coco.py (plain ViT, last block's map
# through the simple feature pyramid, AdamW with layer decay 0.7) with the
# encoder size, the heads' widths, the data and the length of the tiny
# MixMIM one (mask-rcnn_mixmim-tiny_fpn_1xb4-1e_embedded.py). The ViT is
# pretrained at 128 px: its position embedding is resized to the 10x10
# patches of a 160 input when the checkpoint is loaded. Run (after
# pretraining that config):
#   mim train mmdet configs/mae/benchmarks/mask-rcnn_vit-tiny-p16-sfp_1xb4-1e_embedded.py  # noqa: E501
_base_ = './mask-rcnn_vit-b-p16-sfp_8xb2-1x_coco.py'

pretrained = 'work_dirs/mae-tiny_1xb32_20e_embedded/epoch_20.pth'
data_root = 'data/embedded/coco/'
metainfo = dict(classes=('circle', 'square', 'triangle', 'star'))
channels = 64
max_epochs = 1

model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True,
            embed_dims=64,
            num_layers=4,
            num_heads=4,
            feedforward_channels=256),
        img_size=160,
        out_indices=(3, ),
        init_cfg=dict(checkpoint=pretrained)),
    neck=dict(in_channels=64, out_channels=channels),
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

optim_wrapper = dict(optimizer=dict(lr=2e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=4)
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(
    logger=dict(interval=4),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
auto_scale_lr = dict(base_batch_size=4)
