# MoBY Swin-T, 100 pretraining epochs (otherwise as the 300e config).
# Reported: 70.9 linear top-1.
_base_ = './moby-swin-t_8xb64_300e.py'

max_epochs = 100
warmup_epochs = 5
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
train_cfg = dict(max_epochs=max_epochs)
