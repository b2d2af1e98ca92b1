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
        ]),
    neck=dict(num_patches=196, in_channels=768, patch_size=16),
    head=dict(patch_size=16))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=224,
        crop_ratio_range=(0.2, 1.0),
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    # 32-px units must hold whole 16-px tokens; no windows to validate
    dict(
        type='MixMaskGenerator',
        mask_patch_size=32,
        mask_ratio=0.5,
        input_size=224,
        encoder_strides=[16]),
    dict(type='PackInputs', algorithm_keys=['mix_mask']),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
