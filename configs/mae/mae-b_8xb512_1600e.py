# MAE ViT-B/16 baseline, 1600 pretraining epochs (otherwise as the 800e
# config). Reported: 83.6 top-1 after fine-tuning.
_base_ = './mae-b_8xb512_800e.py'

max_epochs = 1600
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-9,
        by_epoch=True,
        begin=0,
        end=40,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - 40,
        by_epoch=True,
        begin=40,
        end=max_epochs,
        convert_to_iter_based=True)
]
train_cfg = dict(max_epochs=max_epochs)
