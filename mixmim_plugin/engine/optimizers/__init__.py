from .autocast_optim_wrapper import AutocastOptimWrapper
from .device_amp_optim_wrapper import DeviceAmpOptimWrapper
from .layer_decay_constructor import BackboneLayerDecayOptimWrapperConstructor
from .per_param_clip import PerParamClipOptimWrapper, clip_grad_norm_per_param_

__all__ = [
    'AutocastOptimWrapper', 'BackboneLayerDecayOptimWrapperConstructor',
    'DeviceAmpOptimWrapper', 'PerParamClipOptimWrapper',
    'clip_grad_norm_per_param_'
]
