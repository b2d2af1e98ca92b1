# DropPos ViT-L/16, 800 pretraining epochs, 8 GPUs x 128 images, 40 warmup
# epochs (the authors' scripts/pretrain_large.sh). Reported: 85.8 top-1
# after fine-tuning (benchmarks/vit-l-p16_8xb64_50e_in1k.py).
_base_ = './droppos-b_8xb64_800e.py'

model = dict(backbone=dict(arch='l'))
train_dataloader = dict(batch_size=128)

max_epochs = 800
warmup_epochs = 40
optim_wrapper = dict(optimizer=dict(lr=1.5e-4 * 1024 / 256))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-4,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - warmup_epochs,
        eta_min=0.0,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True)
]
auto_scale_lr = dict(base_batch_size=1024)
