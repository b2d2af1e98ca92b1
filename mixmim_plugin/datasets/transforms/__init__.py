from .mix_mask import MixMaskGenerator, check_stage_windows
from .moby_color import HueSafeColorJitter, shift_hue
from .position_drop import DropPositionMask, droppos_counts

__all__ = [
    'MixMaskGenerator', 'check_stage_windows', 'DropPositionMask',
    'droppos_counts', 'HueSafeColorJitter', 'shift_hue'
]
