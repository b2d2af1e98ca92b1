# UPerNet on ADE20K with a MixMIM-L backbone (C=192): the MixMIM-B recipe
# with drop path 0.2 and gradient checkpointing (no reported ADE20K
# figure for L in the reference sheet).
_base_ = './upernet_mixmim-b_8xb2-160k_ade20k-512x512.py'

pretrained = 'work_dirs/mixmim-l_8xb128_600e/epoch_600.pth'
model = dict(
    backbone=dict(
        arch='l',
        drop_path_rate=0.2,
        with_cp=True,
        init_cfg=dict(checkpoint=pretrained)),
    decode_head=dict(in_channels=[192, 384, 768, 1536]),
    auxiliary_head=dict(in_channels=768))
