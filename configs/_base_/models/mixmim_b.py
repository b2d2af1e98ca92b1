# MixMIM-B pretraining model (reference sheet: C=128, depths 2-2-18-2, heads
# 4-8-16-32, windows 14-14-14-7 at 224; decoder 8 x 512, 16 heads). The
# decoder's input width (1024), token count (7x7 = 49) and patch size (32,
# the encoder's output stride) follow from the encoder: MixMIMPretrainer
# fills them in.
model = dict(
    type='MixMIMPretrainer',
    mask_mode='per_pair',
    odd_batch='drop',
    backbone=dict(
        type='MixMIMEncoder',
        arch='b',
        img_size=224,
        window_size=[14, 14, 14, 7],
        drop_path_rate=0.0),
    neck=dict(
        type='MixMIMDualDecoder',
        decoder_embed_dim=512,
        decoder_depth=8,
        decoder_num_heads=16),
    head=dict(
        type='MixMIMDualHead',
        norm_pix=True,
        loss=dict(type='PixelReconstructionLoss', criterion='L2')))
