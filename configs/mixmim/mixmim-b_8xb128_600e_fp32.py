# MixMIM-B, 600 epochs, full fp32 (as mmpretrain's MixMIM config).
_base_ = './mixmim-b_8xb128_600e.py'

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW',
        lr=1.5e-4 * 1024 / 256,
        betas=(0.9, 0.95),
        weight_decay=0.05,
        fused=True),
    paramwise_cfg=dict(
        flat_decay_mult=0.0, custom_keys={'mask_token': dict(decay_mult=0.0)}))
