# MAE pretraining schedule (mmpretrain's MAE configs, the paper's recipe):
# AdamW (0.9, 0.95), lr 1.5e-4 x batch / 256, weight decay 0.05 except
# norms, biases and tokens, 40 warmup epochs, cosine to 0. ``max_epochs``
# is set by each config.
max_epochs = 800
warmup_epochs = 40
base_lr = 1.5e-4 * 4096 / 256  # the 8 x 512 = 4096 batch of the configs

# fp16 AMP with a dynamic loss scale on a GPU (the published recipe), bf16
# autocast when the same file runs on a CPU (DeviceAmpOptimWrapper)
optim_wrapper = dict(
    type='DeviceAmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(
        type='AdamW',
        lr=base_lr,
        betas=(0.9, 0.95),
        weight_decay=0.05,
        fused=True),
    paramwise_cfg=dict(
        custom_keys={
            'ln': dict(decay_mult=0.0),
            'bias': dict(decay_mult=0.0),
            'pos_embed': dict(decay_mult=0.),
            'mask_token': dict(decay_mult=0.),
            'cls_token': dict(decay_mult=0.)
        }))

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-9,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - warmup_epochs,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True)
]

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
# lr above is for a total batch of 4096; --auto-scale-lr rescales it
auto_scale_lr = dict(base_batch_size=4096)
