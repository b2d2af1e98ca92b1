# Fine-tuning a DropPos ViT-B/16 on ImageNet-1k (the authors'
# scripts/finetune_base.sh): 100 epochs, batch 8 x 32, lr 1e-3 x batch /
# 256, layer decay 0.75, weight decay 0.05, drop path 0.1, 5 warmup epochs,
# mixup 0.8, cutmix 1.0, random erasing 0.25, label smoothing 0.1,
# RandAugment m9-mstd0.5, global average pooling: mmpretrain's MAE
# fine-tuning config with those values. Reported: 84.2 (800e), 83.0 (200e).
# Set the pretrained weights with
# --cfg-options model.backbone.init_cfg.checkpoint=<pretraining checkpoint>
_base_ = [
    'mmpretrain::mae/benchmarks/vit-base-p16_8xb128-coslr-100e_in1k.py',
    '../../_base_/fault_tolerance.py',
]

default_scope = 'mixmim_plugin'
custom_imports = dict(imports=['mixmim_plugin'], allow_failed_imports=False)

train_dataloader = dict(batch_size=32)
val_dataloader = dict(batch_size=32)
test_dataloader = val_dataloader
pretrained = 'work_dirs/droppos-b_8xb64_800e/epoch_800.pth'
model = dict(
    backbone=dict(
        drop_path_rate=0.1,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')))
optim_wrapper = dict(
    optimizer=dict(lr=1e-3 * 256 / 256),
    paramwise_cfg=dict(layer_decay_rate=0.75))
auto_scale_lr = dict(base_batch_size=256)
