# DropPos pretraining schedule (the authors' scripts): AdamW (0.9, 0.95),
# lr 1.5e-4 x batch / 256, weight decay 0.05 except 1-D parameters (norms,
# biases), gradient clipping at norm 5, 10 warmup epochs, cosine to 0, and
# the position-smoothing sigma decayed linearly from 1 to 0 by epoch.
# ``max_epochs`` is set by each config.
max_epochs = 800
warmup_epochs = 10
base_lr = 1.5e-4 * 512 / 256  # the 8 x 64 = 512 batch of the ViT-B configs

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
    clip_grad=dict(max_norm=5.0),
    paramwise_cfg=dict(flat_decay_mult=0.0))

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
custom_hooks = [
    dict(type='DropPosSigmaHook', start=1.0, end=0.0, by_epoch=True)
]
# lr above is for a total batch of 512; --auto-scale-lr rescales it
auto_scale_lr = dict(base_batch_size=512)
