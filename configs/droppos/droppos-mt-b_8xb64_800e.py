# Multi-task DropPos ViT-B/16: the position loss plus MAE's pixel loss on
# the removed patches from the same encoder output,
# loss = pos_weight * L_pos + L_MAE with pos_weight 0.05 (0.1 for ViT-L).
# The pixel decoder is mmpretrain's MAE decoder with the position decoder's
# size (512 wide, 2 blocks: the authors build both from the same
# decoder_depth), norm-pix targets; its token count, patch size and input
# width follow from the encoder (DropPos fills them in).
_base_ = './droppos-b_8xb64_800e.py'

model = dict(
    pos_weight=0.05,
    aux_neck=dict(
        type='MAEPretrainDecoder',
        in_chans=3,
        decoder_embed_dim=512,
        decoder_depth=2,
        decoder_num_heads=16,
        mlp_ratio=4.),
    aux_head=dict(
        type='MAEPretrainHead',
        norm_pix=True,
        loss=dict(type='PixelReconstructionLoss', criterion='L2')))
