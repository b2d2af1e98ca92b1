# UPerNet on ADE20K with a MixMIM-B backbone: 160k iterations, 8 GPUs x 2
# images, 512x512 crops (random resize 0.5-2.0 of 2048x512, crop, flip,
# photometric distortion), whole-image test at 2048x512: mmseg's ADE20K
# UPerNet pipeline with the MIM fine-tuning recipe of mmseg's MAE config
# (AdamW lr 1e-4, weight decay 0.05, 1500 warmup iterations, poly decay),
# layer-wise lr decay 0.8 over the 26 depths of the encoder, drop path 0.1,
# mixed precision.
# Dense backbone: the pretrained windows 14-14-14-7 (maps that they do not
# tile are padded for attention only), global attention in blocks 5, 11, 17
# of stage 3 and in stage 4 -- as the Mask R-CNN configs.
# Reported (paper, 600e pretraining): 50.3 mIoU.
# Set the pretrained checkpoint with
#   --cfg-options model.backbone.init_cfg.checkpoint=<pretraining checkpoint>
_base_ = [
    ('mmseg::swin/swin-tiny-patch4-window7-in1k-pre_'
     'upernet_8xb2-160k_ade20k-512x512.py'),
    '../../_base_/fault_tolerance.py',
]

custom_imports = dict(imports=['mixmim_plugin'], allow_failed_imports=False)

pretrained = 'work_dirs/mixmim-b_8xb128_600e/epoch_600.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='mixmim_plugin.MixMIMEncoder',
        arch='b',
        img_size=224,
        window_size=[14, 14, 14, 7],
        global_blocks=[[], [], [5, 11, 17], [0, 1]],
        drop_path_rate=0.1,
        out_indices=(0, 1, 2, 3),
        out_type='featmap',
        with_cp=False,
        frozen_stages=-1,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    decode_head=dict(in_channels=[128, 256, 512, 1024]),
    auxiliary_head=dict(in_channels=512))

optim_wrapper = dict(
    _delete_=True,
    type='mixmim_plugin.DeviceAmpOptimWrapper',
    optimizer=dict(
        type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='mixmim_plugin.BackboneLayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(
        layer_decay_rate=0.8,
        flat_decay_mult=0.0,
        custom_keys={'relative_position_bias_table': dict(decay_mult=0.0)}))
