# Linear probing of a DropPos ViT-B/16 on ImageNet-1k: the MAE linear recipe
# (configs/mae/benchmarks/vit-b-p16_8xb2048-linear-90e_in1k.py; frozen
# encoder, [CLS] token, BatchNorm + linear layer, LARS, 90 epochs). The
# reference sheet has no DropPos linear figure.
# Set the pretrained checkpoint with
#   --cfg-options model.backbone.init_cfg.checkpoint=<pretraining checkpoint>
_base_ = '../../mae/benchmarks/vit-b-p16_8xb2048-linear-90e_in1k.py'

pretrained = 'work_dirs/droppos-b_8xb64_800e/epoch_800.pth'
model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained)))
