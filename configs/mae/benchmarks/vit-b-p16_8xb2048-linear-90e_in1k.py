# Linear probing of an MAE ViT-B/16 on ImageNet-1k: mmpretrain's MAE linear
# recipe (frozen encoder, final-normed [CLS] token, BatchNorm without affine
# parameters + one linear layer; LARS lr 6.4 for batch 16384, no weight
# decay, 10 warmup epochs then cosine, 90 epochs, RandomResizedCrop + flip)
# in the plugin's scope. Reported: 68.0.
# Set the pretrained checkpoint with
#   --cfg-options model.backbone.init_cfg.checkpoint=<pretraining checkpoint>
_base_ = [
    ('mmpretrain::mae/benchmarks/'
     'vit-base-p16_8xb2048-linear-coslr-90e_in1k.py'),
    '../../_base_/fault_tolerance.py',
]

default_scope = 'mixmim_plugin'
custom_imports = dict(imports=['mixmim_plugin'], allow_failed_imports=False)

pretrained = 'work_dirs/mae-b_8xb512_800e/epoch_800.pth'
model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained)))
auto_scale_lr = dict(base_batch_size=16384)
# mmpretrain's fp16 AMP recipe, which also runs on a CPU (bf16 autocast)
optim_wrapper = dict(type='mixmim_plugin.DeviceAmpOptimWrapper')
