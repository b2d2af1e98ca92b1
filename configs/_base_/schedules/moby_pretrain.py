# MoBY pretraining schedule (authors' moby_main.py): AdamW (0.9, 0.999), lr
# 1e-3 x batch / 512, weight decay 0.05 except 1-D parameters (norms,
# biases), gradient clipping at norm 5, 5 warmup epochs from 5e-7 x batch /
# 512, cosine to 5e-6 x batch / 512, fp16 mixed precision. Each config sets
# its epochs.
max_epochs = 300
warmup_epochs = 5
base_lr = 1e-3  # for the 8 x 64 = 512 batch of the configs

# fp16 AMP with a dynamic loss scale on a GPU (the published recipe), bf16
# autocast when the same file runs on a CPU (DeviceAmpOptimWrapper)
optim_wrapper = dict(
    type='DeviceAmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(
        type='AdamW',
        lr=base_lr,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0.05),
    paramwise_cfg=dict(flat_decay_mult=0.0),
    clip_grad=dict(max_norm=5.0))

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=5e-4,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - warmup_epochs,
        eta_min_ratio=5e-3,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True)
]

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
# lr above is for a total batch of 512; --auto-scale-lr rescales it
auto_scale_lr = dict(base_batch_size=512)
