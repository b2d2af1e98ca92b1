# Linear evaluation of the MoBY Swin-T with BatchNorm before the MLP
# (moby-swin-t-bn_8xb64_100e.py); frozen BatchNorm statistics.
_base_ = './swin-t_8xb64-linear-coslr-100e_in1k.py'

pretrained = 'work_dirs/moby-swin-t-bn_8xb64_100e/epoch_100.pth'
model = dict(
    backbone=dict(
        type='MoBYSwinTransformer',
        norm_before_mlp='bn',
        norm_eval=True,
        init_cfg=dict(checkpoint=pretrained)))
