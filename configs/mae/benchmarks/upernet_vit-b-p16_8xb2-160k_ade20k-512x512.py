# UPerNet on ADE20K with an MAE ViT-B/16 backbone: mmseg's MAE-B UPerNet
# recipe (160k iterations, 8 GPUs x 2 images, 512x512 crops, AdamW lr 1e-4,
# weight decay 0.05, layer decay 0.65, drop path 0.1, 1500 warmup
# iterations then poly, mixed precision, sliding-window test 512 / 341)
# with mmpretrain's VisionTransformer (the layout of mmpretrain's MAE
# checkpoints) instead of mmseg's BEiT-style MAE backbone: the maps of
# blocks 4, 6, 8 and 12 go through mmseg's Feature2Pyramid (x4, x2, x1,
# x0.5) into UPerNet; layer decay by the plugin's constructor.
# Reported (MAE paper): 48.1 mIoU.
# Set the pretrained checkpoint with
#   --cfg-options model.backbone.init_cfg.checkpoint=<pretraining checkpoint>
_base_ = [
    'mmseg::mae/mae-base_upernet_8xb2-amp-160k_ade20k-512x512.py',
    '../../_base_/fault_tolerance.py',
]

custom_imports = dict(imports=['mixmim_plugin'], allow_failed_imports=False)

pretrained = 'work_dirs/mae-b_8xb512_800e/epoch_800.pth'
model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmpretrain.VisionTransformer',
        arch='b',
        img_size=512,
        patch_size=16,
        out_indices=(3, 5, 7, 11),
        out_type='featmap',
        final_norm=True,
        drop_path_rate=0.1,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')))

optim_wrapper = dict(
    _delete_=True,
    type='mixmim_plugin.DeviceAmpOptimWrapper',
    optimizer=dict(
        type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='mixmim_plugin.BackboneLayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(
        layer_decay_rate=0.65,
        flat_decay_mult=0.0,
        custom_keys={
            'pos_embed': dict(decay_mult=0.0),
            'cls_token': dict(decay_mult=0.0)
        }))
