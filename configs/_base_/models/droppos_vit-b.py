# DropPos ViT-B/16 pretraining model (the authors' dec512d2b): the encoder
# sees the 49 visible patches of 196, 37 of them without their position
# embedding; decoder 512 wide, 2 blocks, 16 heads, no position embedding,
# 196 position classes; smoothed targets (sigma decayed from 1 by
# DropPosSigmaHook) and attentive reconstruction (tau 0.1).
model = dict(
    type='DropPos',
    backbone=dict(type='DropPosViT', arch='b', img_size=224, patch_size=16),
    neck=dict(type='DropPosDecoder', embed_dims=512, depth=2, num_heads=16),
    head=dict(type='DropPosHead', sigma=1.0, attentive=True, tau=0.1),
    # xavier-uniform linears, unit LayerNorms (as the authors)
    init_cfg=[
        dict(type='Xavier', layer='Linear', distribution='uniform'),
        dict(type='Constant', layer='LayerNorm', val=1.0, bias=0.0)
    ])
