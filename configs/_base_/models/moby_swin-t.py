# MoBY with Swin-T (authors' moby_swin_tiny.yaml): projector 768 -> 4096 ->
# 256 and predictor 256 -> 4096 -> 256 (Linear-BN-ReLU-Linear), BN
# synchronised over all processes, InfoNCE at temperature 0.2 against two
# queues of 4096 keys, target momentum 0.99 -> 1 (cosine), drop path 0.2
# online / 0.0 target.
model = dict(
    type='MoBY',
    backbone=dict(
        type='SwinTransformer',
        arch='tiny',
        img_size=224,
        out_indices=(3, ),
        init_cfg=[
            dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.),
            dict(type='Constant', layer='LayerNorm', val=1., bias=0.)
        ]),
    neck=dict(
        type='NonLinearNeck',
        in_channels=768,
        hid_channels=4096,
        out_channels=256,
        num_layers=2,
        with_bias=True,
        with_last_bn=False,
        with_last_bias=True,
        with_avg_pool=True,
        norm_cfg=dict(type='SyncBN')),
    predictor=dict(
        type='NonLinearNeck',
        in_channels=256,
        hid_channels=4096,
        out_channels=256,
        num_layers=2,
        with_bias=True,
        with_last_bn=False,
        with_last_bias=True,
        with_avg_pool=False,
        norm_cfg=dict(type='SyncBN')),
    head=dict(
        type='ContrastiveHead',
        loss=dict(type='CrossEntropyLoss'),
        temperature=0.2),
    queue_len=4096,
    feat_dim=256,
    base_momentum=0.99,
    online_drop_path_rate=0.2,
    target_drop_path_rate=0.0)
