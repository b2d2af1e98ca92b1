# Mask R-CNN + FPN on COCO with a MixMIM-B backbone, 3x schedule: mmdet's
# Swin-T 3x recipe (36 epochs, 8 GPUs x 2 images; multi-scale training,
# short side 480-800, long side <= 1333, and DETR-style random crops, flip;
# AdamW lr 1e-4, weight decay 0.05, steps at epochs 27 and 33), with the
# backbone, layer decay 0.8 and drop path 0.2 of the 1x config.
# Set the pretrained checkpoint with
#   --cfg-options model.backbone.init_cfg.checkpoint=<pretraining checkpoint>
_base_ = [
    'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_ms-crop-3x_coco.py',
    '../../_base_/fault_tolerance.py',
]

custom_imports = dict(imports=['mixmim_plugin'], allow_failed_imports=False)

pretrained = 'work_dirs/mixmim-b_8xb128_600e/epoch_600.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='mixmim_plugin.MixMIMEncoder',
        arch='b',
        img_size=224,
        window_size=[14, 14, 14, 7],
        global_blocks=[[], [], [5, 11, 17], [0, 1]],
        drop_path_rate=0.2,
        out_indices=(0, 1, 2, 3),
        out_type='featmap',
        with_cp=False,
        frozen_stages=-1,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(in_channels=[128, 256, 512, 1024]))

optim_wrapper = dict(
    constructor='mixmim_plugin.BackboneLayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(
        _delete_=True,
        layer_decay_rate=0.8,
        flat_decay_mult=0.0,
        custom_keys={'relative_position_bias_table': dict(decay_mult=0.0)}))
# a COCO-format set with other categories fails before the first iteration
# with the keys to set (README "Your own data"), not inside the evaluator
custom_hooks = [dict(type='mixmim_plugin.CocoClassesCheckHook')]
