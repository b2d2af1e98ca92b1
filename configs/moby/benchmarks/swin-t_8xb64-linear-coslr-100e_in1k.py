# Linear evaluation of a MoBY Swin-T (authors' moby_linear.py): frozen
# encoder, global average pooling, one linear layer; SGD (momentum 0.9,
# Nesterov) lr 1.0 x batch / 512, no weight decay, 5 warmup epochs, cosine,
# 100 epochs, 8 GPUs x 64; RandomResizedCrop + flip, test resize 256 + center
# crop 224. Set the pretrained checkpoint with
#   --cfg-options model.backbone.init_cfg.checkpoint=$MOBY_CKPT
# (the online encoder, 'backbone.' in MoBY checkpoints). The authors keep
# drop path 0.2 active on the frozen encoder; here the frozen stages run in
# eval mode, so drop path is off.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32_pil_resize.py',
    '../../_base_/default_runtime.py',
]

train_dataloader = dict(batch_size=64, num_workers=8)
val_dataloader = dict(batch_size=64, num_workers=8)

pretrained = 'work_dirs/moby-swin-t_8xb64_300e/epoch_300.pth'
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='SwinTransformer',
        arch='tiny',
        img_size=224,
        drop_path_rate=0.0,
        frozen_stages=3,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=768,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        init_cfg=dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.)))

max_epochs = 100
warmup_epochs = 5
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='SGD', lr=1.0, momentum=0.9, nesterov=True, weight_decay=0.0))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=5e-7,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - warmup_epochs,
        eta_min_ratio=5e-6,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True)
]
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=10)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=512)
