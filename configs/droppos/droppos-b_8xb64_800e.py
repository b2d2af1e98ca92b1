# DropPos ViT-B/16, 800 pretraining epochs on ImageNet-1k, 8 GPUs x 64
# images (the authors' scripts/pretrain_base.sh). Reported: 84.2 top-1 after
# fine-tuning (benchmarks/vit-b-p16_8xb32_100e_in1k.py).
_base_ = [
    '../_base_/models/droppos_vit-b.py',
    '../_base_/datasets/droppos_imagenet_pretrain.py',
    '../_base_/schedules/droppos_pretrain.py',
    '../_base_/default_runtime.py',
]
