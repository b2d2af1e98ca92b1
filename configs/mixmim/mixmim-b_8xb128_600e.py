# MixMIM-B, 600 pretraining epochs on ImageNet-1k, 8 GPUs x 128 images, fp16
# mixed precision (as the authors). Reported: 85.1 top-1 after fine-tuning.
_base_ = [
    '../_base_/models/mixmim_b.py',
    '../_base_/datasets/mixmim_imagenet_pretrain.py',
    '../_base_/schedules/mixmim_pretrain.py',
    '../_base_/default_runtime.py',
]

# torch.compile: True (or torch.compile's options as a dict, e.g.
# dict(mode='max-autotune')) compiles the training forward as one graph
# (FaultTolerantRunner compiles MixMIMPretrainer.compile_targets with
# fullgraph=True). Off by default: on a CPU it compiles for minutes and runs
# no faster (README, Speed); try it on a GPU with --cfg-options compile=True.
compile = False
