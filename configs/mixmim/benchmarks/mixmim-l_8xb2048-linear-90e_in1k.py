# Linear probing of a MixMIM-L (C=192) on ImageNet-1k: the MixMIM-B linear
# recipe (mixmim-b_8xb2048-linear-90e_in1k.py) on 1536 features.
_base_ = './mixmim-b_8xb2048-linear-90e_in1k.py'

pretrained = 'work_dirs/mixmim-l_8xb128_600e/epoch_600.pth'
model = dict(
    backbone=dict(arch='l', init_cfg=dict(checkpoint=pretrained)),
    neck=dict(input_features=1536),
    head=dict(in_channels=1536))
