# MixMIM on a plain ViT-B/16 (the paper's generality experiment; not in the
# authors' code): the MixMIM-B 600-epoch recipe with mmpretrain's ViT-B as
# the encoder. 224 / 16 -> 14x14 = 196 decoder tokens of 16x16 px; each
# 32-px mix unit is 2x2 tokens. Attention is global, so the whole masked
# attention runs as two dense attentions (one per source image), each with
# its own copy of the [CLS] token. Fine-tune the backbone as a normal
# mmpretrain VisionTransformer.
_base_ = './mixmim-b_8xb128_600e.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='MixMIMViT',
        arch='b',
        img_size=224,
        patch_size=16,
        drop_path_rate=0.0,
        # the authors' (and MAE's) encoder init: Xavier-uniform linears
        init_cfg=[
            dict(type='Xavier', layer='Linear', distribution='uniform'),
            dict(type='Constant', layer='LayerNorm', val=1.0, bias=0.0)
        ]))
