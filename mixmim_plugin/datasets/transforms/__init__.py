from .mix_mask import MixMaskGenerator
from .moby_color import HueSafeColorJitter, shift_hue
from .position_drop import DropPositionMask, droppos_counts

__all__ = [
    'MixMaskGenerator', 'DropPositionMask', 'droppos_counts',
    'HueSafeColorJitter', 'shift_hue'
]
