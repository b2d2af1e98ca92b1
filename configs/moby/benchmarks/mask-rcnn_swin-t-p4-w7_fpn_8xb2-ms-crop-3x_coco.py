# Mask R-CNN + FPN on COCO with a MoBY Swin-T backbone, 3x schedule: mmdet's
# Swin-T 3x config as it is (36 epochs, 8 GPUs x 2 images; multi-scale
# training, short side 480-800, long side <= 1333, and DETR-style random
# crops, flip; AdamW lr 1e-4, weight decay 0.05, drop path 0.2, steps at
# epochs 27 and 33). Reported: 46.0 APbox / 41.7 APmask.
# Pretrained weights: the converted online encoder, as in the 1x config.
_base_ = [
    'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_ms-crop-3x_coco.py',
    '../../_base_/fault_tolerance.py',
]

custom_imports = dict(imports=['mixmim_plugin'], allow_failed_imports=False)

pretrained = 'work_dirs/moby-swin-t_8xb64_300e/epoch_300_swin.pth'
model = dict(
    backbone=dict(
        # mmdet's Swin that checks the checkpoint before loading it
        type='mixmim_plugin.CheckedDetSwinTransformer',
        convert_weights=False,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
# a COCO-format set with other categories fails before the first iteration
# with the keys to set (README "Your own data"), not inside the evaluator
custom_hooks = [dict(type='mixmim_plugin.CocoClassesCheckHook')]
