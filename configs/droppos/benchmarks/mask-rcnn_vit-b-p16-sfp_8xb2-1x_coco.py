# Mask R-CNN on COCO with a DropPos ViT-B/16 backbone and ViTDet's simple
# feature pyramid, 1x schedule: the MAE ViT-B recipe
# (configs/mae/benchmarks/mask-rcnn_vit-b-p16-sfp_8xb2-1x_coco.py). The
# DropPos checkpoint has mmpretrain's ViT layout plus the pretraining-only
# mask_pos_token, which the load reports as an unexpected key.
# Reported (second-hand only, see the reference sheet): 42.6
# APmask.
# Set the pretrained checkpoint with
#   --cfg-options model.backbone.init_cfg.checkpoint=<pretraining checkpoint>
_base_ = '../../mae/benchmarks/mask-rcnn_vit-b-p16-sfp_8xb2-1x_coco.py'

pretrained = 'work_dirs/droppos-b_8xb64_800e/epoch_800.pth'
model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained)))
