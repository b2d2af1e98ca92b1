# Mask R-CNN on COCO with a DropPos ViT-B/16 backbone and ViTDet's simple
# feature pyramid, 3x schedule: the MAE ViT-B recipe
# (configs/mae/benchmarks/mask-rcnn_vit-b-p16-sfp_8xb2-ms-crop-3x_coco.py).
# Set the pretrained checkpoint with
#   --cfg-options model.backbone.init_cfg.checkpoint=<pretraining checkpoint>
_base_ = '../../mae/benchmarks/mask-rcnn_vit-b-p16-sfp_8xb2-ms-crop-3x_coco.py'

pretrained = 'work_dirs/droppos-b_8xb64_800e/epoch_800.pth'
model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained)))
