from .mix_mask import MixMaskGenerator, check_stage_windows

__all__ = ['MixMaskGenerator', 'check_stage_windows']
