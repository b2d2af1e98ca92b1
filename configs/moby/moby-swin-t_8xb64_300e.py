# MoBY Swin-T, 300 pretraining epochs on ImageNet-1k, 8 GPUs x 64 images
# (batch 512), fp16 mixed precision. Reported: 75.0-75.3 linear top-1.
_base_ = [
    '../_base_/models/moby_swin-t.py',
    '../_base_/datasets/moby_imagenet_pretrain.py',
    '../_base_/schedules/moby_pretrain.py',
    '../_base_/moby_runtime.py',
]
