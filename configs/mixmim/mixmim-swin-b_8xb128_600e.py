# MixMIM on Swin-B (the paper's generality experiment; not in the authors'
# code): the MixMIM-B 600-epoch recipe with mmpretrain's Swin-B (window 7,
# shifted windows) as the encoder. Stage maps at 224 are 56/28/14/7; the
# last stage (stride 32) gives 7x7 = 49 decoder tokens of 1024 channels,
# one per 32-px mix unit. Every (shifted) window masks attention across the
# two source images. Fine-tune the backbone as a normal SwinTransformer.
_base_ = './mixmim-b_8xb128_600e.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='MixMIMSwin',
        arch='b',
        img_size=224,
        window_size=7,
        drop_path_rate=0.0,
        out_indices=(3, ),
        # the authors' encoder init: Xavier-uniform linears
        init_cfg=[
            dict(type='Xavier', layer='Linear', distribution='uniform'),
            dict(type='Constant', layer='LayerNorm', val=1.0, bias=0.0)
        ]))
