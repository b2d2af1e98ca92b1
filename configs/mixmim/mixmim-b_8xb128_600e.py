# MixMIM-B, 600 pretraining epochs on ImageNet-1k, 8 GPUs x 128 images, fp16
# mixed precision (as the authors). Reported: 85.1 top-1 after fine-tuning.
_base_ = [
    '../_base_/models/mixmim_b.py',
    '../_base_/datasets/mixmim_imagenet_pretrain.py',
    '../_base_/schedules/mixmim_pretrain.py',
    '../_base_/default_runtime.py',
]
