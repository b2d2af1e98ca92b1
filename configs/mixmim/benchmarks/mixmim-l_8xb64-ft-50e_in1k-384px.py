# Fine-tuning a MixMIM-L on ImageNet-1k at 384x384: the L recipe
# (mixmim-l_8xb128-ft-50e_in1k.py) with the 384 setting of the B config:
# windows 16-16-24-12, batch 8 x 64, lr 5e-4 x 512 / 256. Reported: 86.9.
_base_ = './mixmim-b_8xb64-ft-100e_in1k-384px.py'

pretrained = 'work_dirs/mixmim-l_8xb128_600e/epoch_600.pth'
model = dict(
    backbone=dict(
        arch='l', drop_path_rate=0.2, init_cfg=dict(checkpoint=pretrained)),
    head=dict(in_channels=1536))
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.8))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-6,
        by_epoch=True,
        begin=0,
        end=5,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=45,
        eta_min=1e-6,
        by_epoch=True,
        begin=5,
        end=50,
        convert_to_iter_based=True)
]
train_cfg = dict(max_epochs=50, val_interval=5)
