from .droppos_head import DropPosHead, attentive_weights, position_smoothing
from .mixmim_head import MixMIMDualHead, patches_to_image

__all__ = [
    'MixMIMDualHead', 'DropPosHead', 'attentive_weights', 'position_smoothing',
    'patches_to_image'
]
