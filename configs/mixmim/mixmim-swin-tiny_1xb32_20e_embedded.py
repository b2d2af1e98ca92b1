# MixMIM on a small Swin (shifted windows) for the embedded 128x128 data on
# one CPU (bf16 autocast), as mixmim-tiny_1xb32_20e_embedded.py. Window 4
# tiles the 32/16/8/4 stage maps (shifted in stages 1-3; the last stage is
# one window); the last stage gives 4x4 = 16 decoder tokens of 512
# channels, one per 32-px mix unit.
_base_ = './mixmim-tiny_1xb32_20e_embedded.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='MixMIMSwin',
        arch=dict(embed_dims=64, depths=[2, 2, 2, 2], num_heads=[2, 4, 8, 16]),
        img_size=128,
        window_size=4,
        drop_path_rate=0.0,
        out_indices=(3, ),
        init_cfg=[
            dict(type='Xavier', layer='Linear', distribution='uniform'),
            dict(type='Constant', layer='LayerNorm', val=1.0, bias=0.0)
        ]))
