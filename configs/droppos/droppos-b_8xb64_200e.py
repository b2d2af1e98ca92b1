# DropPos ViT-B/16, 200 pretraining epochs (otherwise as the 800e config).
# Reported: 83.0 top-1 after fine-tuning.
_base_ = './droppos-b_8xb64_800e.py'

max_epochs = 200
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-4,
        by_epoch=True,
        begin=0,
        end=10,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - 10,
        eta_min=0.0,
        by_epoch=True,
        begin=10,
        end=max_epochs,
        convert_to_iter_based=True)
]
train_cfg = dict(max_epochs=max_epochs)
