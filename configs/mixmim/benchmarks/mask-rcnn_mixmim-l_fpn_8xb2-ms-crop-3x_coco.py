# Mask R-CNN + FPN on COCO with a MixMIM-L backbone (C=192), 3x schedule:
# the MixMIM-B 3x recipe with drop path 0.3 and gradient checkpointing.
_base_ = './mask-rcnn_mixmim-b_fpn_8xb2-ms-crop-3x_coco.py'

pretrained = 'work_dirs/mixmim-l_8xb128_600e/epoch_600.pth'
model = dict(
    backbone=dict(
        arch='l',
        drop_path_rate=0.3,
        with_cp=True,
        init_cfg=dict(checkpoint=pretrained)),
    neck=dict(in_channels=[192, 384, 768, 1536]))
