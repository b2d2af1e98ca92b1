# DropPos on the hierarchical MixMIM-B encoder (new; see DropPosMixMIM's
# docstring): a position is a 32x32 unit (7x7 grid at 224, 49 classes);
# removed units become a learned mask token, and the visible units whose
# position is dropped are shuffled among their own slots. Mask ratio 0.5
# (MixMIM's; the encoder computes every token anyway): 49 -> 24 visible ->
# 6 keep their position, 18 shuffled. MixMIM's schedule (batch 8 x 128,
# lr 1.5e-4 x batch / 256, 40 warmup epochs, 300 epochs) with DropPos's
# gradient clipping and sigma decay.
_base_ = [
    '../_base_/datasets/imagenet_pretrain.py',
    '../_base_/schedules/droppos_pretrain.py',
    '../_base_/default_runtime.py',
]

model = dict(
    type='DropPos',
    backbone=dict(
        type='DropPosMixMIM',
        arch='b',
        img_size=224,
        window_size=[14, 14, 14, 7],
        drop_path_rate=0.0),
    neck=dict(type='DropPosDecoder', embed_dims=512, depth=2, num_heads=16),
    head=dict(type='DropPosHead', sigma=1.0, attentive=True, tau=0.1),
    init_cfg=[
        dict(type='Xavier', layer='Linear', distribution='uniform'),
        dict(type='Constant', layer='LayerNorm', val=1.0, bias=0.0)
    ])

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=224,
        crop_ratio_range=(0.2, 1.0),
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='DropPositionMask',
        patch_size=32,
        mask_ratio=0.5,
        pos_mask_ratio=0.75,
        input_size=224),
    dict(type='PackInputs', algorithm_keys=['patch_mask', 'pos_mask']),
]
train_dataloader = dict(batch_size=128, dataset=dict(pipeline=train_pipeline))

max_epochs = 300
warmup_epochs = 40
optim_wrapper = dict(
    optimizer=dict(lr=1.5e-4 * 1024 / 256),
    paramwise_cfg=dict(custom_keys={
        'mask_token': dict(decay_mult=0.0),
        'mask_pos_token': dict(decay_mult=0.0)
    }))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-4,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - warmup_epochs,
        eta_min=0.0,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True)
]
train_cfg = dict(max_epochs=max_epochs)
auto_scale_lr = dict(base_batch_size=1024)
