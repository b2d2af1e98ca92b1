# UPerNet on ADE20K with a MoBY Swin-T backbone: mmseg's Swin-T UPerNet
# config as it is (160k iterations, 8 GPUs x 2 images, 512x512 crops; AdamW
# lr 6e-5, weight decay 0.01, 1500 warmup iterations then poly; drop path
# 0.3; whole-image test at 2048x512). Reported: 44.06 mIoU (45.58 with
# multi-scale and flip testing, mmseg's tta_pipeline).
# Pretrained weights: the online encoder of a MoBY checkpoint converted by
# tools/model_converters/moby2swin.py (see the Mask R-CNN configs), passed
# with --cfg-options model.backbone.init_cfg.checkpoint=<converted file>.
_base_ = [
    ('mmseg::swin/swin-tiny-patch4-window7-in1k-pre_'
     'upernet_8xb2-160k_ade20k-512x512.py'),
    '../../_base_/fault_tolerance.py',
]

custom_imports = dict(imports=['mixmim_plugin'], allow_failed_imports=False)

pretrained = 'work_dirs/moby-swin-t_8xb64_300e/epoch_300_swin.pth'
model = dict(
    backbone=dict(
        # mmseg's Swin that checks the checkpoint before loading it
        type='mixmim_plugin.CheckedSegSwinTransformer',
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
