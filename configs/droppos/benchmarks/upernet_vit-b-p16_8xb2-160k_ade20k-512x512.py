# UPerNet on ADE20K with a DropPos ViT-B/16 backbone: the MAE ViT-B recipe
# (configs/mae/benchmarks/upernet_vit-b-p16_8xb2-160k_ade20k-512x512.py:
# mmseg's MAE-B UPerNet recipe with mmpretrain's ViT and Feature2Pyramid).
# Reported (second-hand): 47.8 mIoU.
# Set the pretrained checkpoint with
#   --cfg-options model.backbone.init_cfg.checkpoint=<pretraining checkpoint>
_base_ = '../../mae/benchmarks/upernet_vit-b-p16_8xb2-160k_ade20k-512x512.py'

pretrained = 'work_dirs/droppos-b_8xb64_800e/epoch_800.pth'
model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained)))
