# MixMIM-B, 600 epochs, bf16 mixed precision (no loss scaling needed; needs a
# GPU with bf16, e.g. A100/H100). On a CPU use tools/train.py --amp, which
# switches to the plugin's AutocastOptimWrapper.
_base_ = './mixmim-b_8xb128_600e.py'

optim_wrapper = dict(type='AmpOptimWrapper', dtype='bfloat16')
