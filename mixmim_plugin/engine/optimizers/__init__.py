from .autocast_optim_wrapper import AutocastOptimWrapper
from .device_amp_optim_wrapper import DeviceAmpOptimWrapper
from .layer_decay_constructor import BackboneLayerDecayOptimWrapperConstructor

__all__ = [
    'AutocastOptimWrapper', 'BackboneLayerDecayOptimWrapperConstructor',
    'DeviceAmpOptimWrapper'
]
