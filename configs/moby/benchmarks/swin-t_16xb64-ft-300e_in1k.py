# Fine-tuning a MoBY Swin-T on ImageNet-1k with mmpretrain's supervised Swin-T
# recipe (AdamW, 300 epochs, RandAugment, Mixup/CutMix, drop path 0.2, 16 GPUs
# x 64), starting from the online encoder of a MoBY checkpoint:
#   --cfg-options model.backbone.init_cfg.checkpoint=$MOBY_CKPT
# (MoBY reports no ImageNet fine-tuning; this is the standard recipe.)
_base_ = [
    'mmpretrain::swin_transformer/swin-tiny_16xb64_in1k.py',
    '../../_base_/fault_tolerance.py',
]

default_scope = 'mixmim_plugin'
custom_imports = dict(imports=['mixmim_plugin'], allow_failed_imports=False)

pretrained = 'work_dirs/moby-swin-t_8xb64_300e/epoch_300.pth'
model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')))
