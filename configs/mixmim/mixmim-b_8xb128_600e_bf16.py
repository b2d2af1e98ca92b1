# MixMIM-B, 600 epochs, bf16 mixed precision (no loss scaling needed; a GPU
# with bf16, e.g. A100/H100). Without a GPU, the same file runs bf16
# autocast on the CPU (DeviceAmpOptimWrapper).
_base_ = './mixmim-b_8xb128_600e.py'

optim_wrapper = dict(type='DeviceAmpOptimWrapper', dtype='bfloat16')
