# MixMIM on a small plain ViT (patch 16) for the embedded 128x128 data on
# one CPU (bf16 autocast), as mixmim-tiny_1xb32_20e_embedded.py: 8x8 = 64
# decoder tokens of 16x16 px; the 32-px mix units form a 4x4 grid.
_base_ = './mixmim-tiny_1xb32_20e_embedded.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='MixMIMViT',
        arch=dict(
            embed_dims=192,
            num_layers=6,
            num_heads=3,
            feedforward_channels=768),
        img_size=128,
        patch_size=16,
        init_cfg=[
            dict(type='Xavier', layer='Linear', distribution='uniform'),
            dict(type='Constant', layer='LayerNorm', val=1.0, bias=0.0)
        ]))
