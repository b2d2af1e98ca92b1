# DropPos ViT-B/16, 800 epochs as droppos-b_8xb64_800e.py, but in fp16 AMP
# with a dynamic loss scale (bf16 autocast on a CPU) instead of the authors'
# fp32. The gradients are unscaled before the per-parameter clipping.
_base_ = './droppos-b_8xb64_800e.py'

optim_wrapper = dict(type='DeviceAmpOptimWrapper', loss_scale='dynamic')
