# Linear probing of a MixMIM-B on ImageNet-1k with MAE's linear recipe
# (mmpretrain's MAE linear config): the encoder frozen, its average-pooled
# final-normed features through a BatchNorm without affine parameters and
# one linear layer; LARS lr 0.1 x 16384 / 256 = 6.4, no weight decay, 10
# warmup epochs then cosine, 90 epochs, batch 8 x 2048, RandomResizedCrop
# + flip. (MixMIM reports no linear probing.)
# Set the pretrained checkpoint with
#   --cfg-options model.backbone.init_cfg.checkpoint=<pretraining checkpoint>
_base_ = [
    ('mmpretrain::mae/benchmarks/'
     'vit-base-p16_8xb2048-linear-coslr-90e_in1k.py'),
    '../../_base_/fault_tolerance.py',
]

default_scope = 'mixmim_plugin'
custom_imports = dict(imports=['mixmim_plugin'], allow_failed_imports=False)

pretrained = 'work_dirs/mixmim-b_8xb128_600e/epoch_600.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='mixmim_plugin.MixMIMEncoder',
        arch='b',
        img_size=224,
        window_size=[14, 14, 14, 7],
        out_type='avg_featmap',
        frozen_stages=4,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(input_features=1024),
    head=dict(
        _delete_=True,
        type='LinearClsHead',
        num_classes=1000,
        in_channels=1024,
        loss=dict(type='CrossEntropyLoss'),
        init_cfg=[dict(type='TruncNormal', layer='Linear', std=0.01)]))

# frozen_stages=4 freezes the patch embedding, the four stages and the final
# norm
auto_scale_lr = dict(base_batch_size=16384)
# mmpretrain's fp16 AMP recipe, which also runs on a CPU (bf16 autocast)
optim_wrapper = dict(type='mixmim_plugin.DeviceAmpOptimWrapper')
