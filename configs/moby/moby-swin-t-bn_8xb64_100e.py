# MoBY Swin-T with BatchNorm instead of LayerNorm before the MLP of every
# block (the MoCo v3 trick), 100 epochs. Reported: 72.0 linear top-1 (70.9
# with LayerNorm). The BatchNorm layers are synchronised like the
# projector's. (The authors' code creates a fresh, parameter-free BatchNorm
# at every call; here it is a learnable, registered layer.)
_base_ = './moby-swin-t_8xb64_100e.py'

model = dict(backbone=dict(type='MoBYSwinTransformer', norm_before_mlp='bn'))
