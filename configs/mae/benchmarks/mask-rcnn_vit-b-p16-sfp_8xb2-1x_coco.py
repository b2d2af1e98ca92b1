# Mask R-CNN on COCO with an MAE ViT-B/16 backbone and ViTDet's simple
# feature pyramid, 1x schedule: mmdet's Swin-T 1x recipe (12 epochs, 8 GPUs
# x 2 images, single scale 1333x800, flip; AdamW lr 1e-4, weight decay 0.05,
# steps at epochs 8 and 11) with layer-wise lr decay 0.7 (ViTDet's for ViT-B)
# and drop path 0.1.
# Backbone: mmpretrain's VisionTransformer (the layout of mmpretrain's MAE
# checkpoints) with global attention in every block (scaled-dot-product
# attention keeps the memory linear in the ~4200 tokens of a 1333x800
# input); the position embedding is interpolated to each input. The last
# block's stride-16 map (final norm applied) feeds
# mixmim_plugin.SimpleFeaturePyramid: strides 4, 8, 16, 32 by transposed
# convolutions / pooling, and 64 for the RPN.
# Reported (MAE paper, ViTDet-style benchmark: 1024x1024, large-scale
# jitter, 100 epochs): 50.3 APbox / 44.9 APmask.
# Set the pretrained checkpoint with
#   --cfg-options model.backbone.init_cfg.checkpoint=<pretraining checkpoint>
_base_ = [
    'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py',
    '../../_base_/fault_tolerance.py',
]

custom_imports = dict(imports=['mixmim_plugin'], allow_failed_imports=False)

pretrained = 'work_dirs/mae-b_8xb512_800e/epoch_800.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.VisionTransformer',
        arch='b',
        img_size=224,
        patch_size=16,
        out_indices=(11, ),
        out_type='featmap',
        final_norm=True,
        drop_path_rate=0.1,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(
        _delete_=True,
        type='mixmim_plugin.SimpleFeaturePyramid',
        in_channels=768,
        out_channels=256,
        scale_factors=(4.0, 2.0, 1.0, 0.5),
        num_outs=5))

optim_wrapper = dict(
    constructor='mixmim_plugin.BackboneLayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(
        _delete_=True,
        layer_decay_rate=0.7,
        flat_decay_mult=0.0,
        custom_keys={
            'pos_embed': dict(decay_mult=0.0),
            'cls_token': dict(decay_mult=0.0)
        }))
# a COCO-format set with other categories fails before the first iteration
# with the keys to set (README "Your own data"), not inside the evaluator
custom_hooks = [dict(type='mixmim_plugin.CocoClassesCheckHook')]
