# DropPos pretraining schedule (the authors' scripts): AdamW (0.9, 0.95),
# lr 1.5e-4 x batch / 256, weight decay 0.05 except 1-D parameters (norms,
# biases), each parameter's gradient clipped to norm 5 on its own, 10 warmup
# epochs, cosine to 0, and the position-smoothing sigma decayed linearly
# from 1 to 0 by epoch. ``max_epochs`` is set by each config.
max_epochs = 800
warmup_epochs = 10
base_lr = 1.5e-4 * 512 / 256  # the 8 x 64 = 512 batch of the ViT-B configs

# fp32 as the authors train (their --use_fp16 is off in every script); the
# *_fp16.py configs switch to AMP. Per-parameter clipping is the authors'
# rule; dict(max_norm=5.0) would clip the global norm instead.
optim_wrapper = dict(
    type='PerParamClipOptimWrapper',
    optimizer=dict(
        type='AdamW',
        lr=base_lr,
        betas=(0.9, 0.95),
        weight_decay=0.05,
        fused=True),
    clip_grad=dict(type='per_param_norm', max_norm=5.0),
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
