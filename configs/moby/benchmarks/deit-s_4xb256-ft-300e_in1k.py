# Fine-tuning a MoBY DeiT-S on ImageNet-1k with mmpretrain's supervised DeiT-S
# recipe (AdamW, 300 epochs, RandAugment, Mixup/CutMix, 4 GPUs x 256),
# starting from the online encoder of a MoBY checkpoint:
#   --cfg-options model.backbone.init_cfg.checkpoint=$MOBY_CKPT
# (MoBY reports no ImageNet fine-tuning; this is the standard recipe.)
_base_ = [
    'mmpretrain::deit/deit-small_4xb256_in1k.py',
    '../../_base_/fault_tolerance.py',
]

default_scope = 'mixmim_plugin'
custom_imports = dict(imports=['mixmim_plugin'], allow_failed_imports=False)

pretrained = 'work_dirs/moby-deit-s_8xb64_300e/epoch_300.pth'
model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')))
