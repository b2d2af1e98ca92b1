# Mask R-CNN + FPN on COCO with a MoBY Swin-T backbone, 1x schedule: mmdet's
# Swin-T 1x config as it is (12 epochs, 8 GPUs x 2 images, single scale
# 1333x800, flip; AdamW lr 1e-4, weight decay 0.05 (none on norms and
# relative position bias tables), drop path 0.2, steps at epochs 8 and 11),
# the recipe of the MoBY paper. Reported: 43.6 APbox / 39.6 APmask.
# mmdet's SwinTransformer loads the converted online encoder of a MoBY
# checkpoint (plugin or authors' layout):
#   python tools/model_converters/moby2swin.py \
#       work_dirs/moby-swin-t_8xb64_300e/epoch_300.pth \
#       work_dirs/moby-swin-t_8xb64_300e/epoch_300_swin.pth
# then --cfg-options model.backbone.init_cfg.checkpoint=<converted file>.
_base_ = [
    'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py',
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
