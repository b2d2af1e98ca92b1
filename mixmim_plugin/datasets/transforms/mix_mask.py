"""MixMIM's mix mask, drawn per sample in the data pipeline."""
from typing import Optional, Sequence, Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform

from mixmim_plugin.models.utils.token_layout import check_stage_windows
from mixmim_plugin.registry import TRANSFORMS
from .mask_grid import as_size, describe, unit_grid


@TRANSFORMS.register_module()
class MixMaskGenerator(BaseTransform):
    """Draw the mix mask of MixMIM for one image.

    The mask lives on a grid of ``mask_patch_size``-pixel units (7x7 at 224
    with 32-pixel units). ``floor(units * ratio)`` units, chosen at random,
    are True: there the pretraining algorithm puts the partner image's
    pixels. Draw it after the geometric augmentations, before ``PackInputs``
    with ``algorithm_keys=['mix_mask']``.

    Required keys: ``img``. Added keys: ``mix_mask`` (bool ndarray, (h, w)).

    Args:
        mask_patch_size: side of a mask unit in pixels. It must be a multiple
            of the encoder's last stride so that no token straddles two
            images (32 for MixMIM).
        mask_ratio: fraction of units taken from the partner, in (0, 1).
        ratio_range: optional (low, high): draw the ratio uniformly in
            [low, high] per sample instead.
        input_size: expected (H, W) (or side) of ``img``; checked when given.
        encoder_strides: strides of the encoder stages, to validate the
            unit and, with ``window_size``, the input size.
        window_size: window side per stage, to validate the input size in
            the pipeline. Optional: :class:`MixMIMEncoder` checks its own
            windows and strides on every mixed batch, so the configs leave
            both out.
    """

    def __init__(self,
                 mask_patch_size: int = 32,
                 mask_ratio: float = 0.5,
                 ratio_range: Optional[Tuple[float, float]] = None,
                 input_size: Optional[Union[int, Tuple[int, int]]] = None,
                 encoder_strides: Optional[Sequence[int]] = (4, 8, 16, 32),
                 window_size: Optional[Sequence[int]] = None) -> None:
        if mask_patch_size <= 0:
            raise ValueError(
                f'mask_patch_size must be positive, got {mask_patch_size}')
        if not 0 < mask_ratio < 1:
            raise ValueError(f'mask_ratio must be in (0, 1), got {mask_ratio}')
        if ratio_range is not None:
            low, high = ratio_range
            if not 0 < low <= high < 1:
                raise ValueError('ratio_range must satisfy 0 < low <= high '
                                 f'< 1, got {ratio_range}')
        if encoder_strides and mask_patch_size % max(encoder_strides):
            raise ValueError(
                f'mask_patch_size {mask_patch_size} is not a multiple of the '
                f'encoder stride {max(encoder_strides)}: a token would mix '
                'two images')
        if window_size is not None and not encoder_strides:
            raise ValueError('window_size needs encoder_strides')
        self.mask_patch_size = mask_patch_size
        self.mask_ratio = mask_ratio
        self.ratio_range = ratio_range
        self.input_size = as_size(input_size)
        self.encoder_strides = tuple(encoder_strides or ())
        self.window_size = tuple(window_size) if window_size else None
        if self.input_size is not None:
            self._check_size(self.input_size)

    def _check_size(self, size: Tuple[int, int]) -> Tuple[int, int]:
        grid = unit_grid(size, self.mask_patch_size, 'mask_patch_size',
                         'mix-mask grid', self.input_size)
        if self.window_size is not None:
            check_stage_windows(size, self.encoder_strides, self.window_size)
        if grid[0] * grid[1] < 2:
            raise ValueError(f'image {size[0]}x{size[1]} has a single '
                             f'{self.mask_patch_size}-pixel unit: nothing '
                             'to mix')
        return grid

    def _ratio(self) -> float:
        if self.ratio_range is None:
            return self.mask_ratio
        return float(np.random.uniform(*self.ratio_range))

    def transform(self, results: dict) -> dict:
        grid = self._check_size(results['img'].shape[:2])
        units = grid[0] * grid[1]
        num = min(max(int(units * self._ratio()), 1), units - 1)
        mask = np.zeros(units, dtype=bool)
        mask[np.random.permutation(units)[:num]] = True
        results['mix_mask'] = mask.reshape(grid)
        return results

    def __repr__(self) -> str:
        return describe(self, 'mask_patch_size', 'mask_ratio', 'ratio_range',
                        'input_size', 'window_size')
