# Fine-tuning an MAE ViT-B/16 on ImageNet-1k: mmpretrain's MAE recipe (100
# epochs, batch 8 x 128, lr 2e-3, layer decay 0.65, drop path 0.1, mixup
# 0.8, cutmix 1.0, random erasing 0.25, label smoothing 0.1), in the
# plugin's scope. Set the pretrained weights with
# --cfg-options model.backbone.init_cfg.checkpoint=<pretraining checkpoint>
_base_ = [
    'mmpretrain::mae/benchmarks/vit-base-p16_8xb128-coslr-100e_in1k.py',
    '../../_base_/fault_tolerance.py',
]

default_scope = 'mixmim_plugin'
custom_imports = dict(imports=['mixmim_plugin'], allow_failed_imports=False)
pretrained = 'work_dirs/mae-b_8xb512_800e/epoch_800.pth'
model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')))
auto_scale_lr = dict(base_batch_size=1024)
