"""MixMIM's mix mask, drawn per sample in the data pipeline."""
from typing import Optional, Sequence, Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform

from mixmim_plugin.registry import TRANSFORMS


def check_stage_windows(size: Tuple[int, int], strides: Sequence[int],
                        windows: Sequence[int]) -> None:
    """Raise ValueError naming the sizes when an (H, W) input does not give
    every stage a map that its window tiles (a window at least as large as
    the map means global attention and always fits)."""
    if len(strides) != len(windows):
        raise ValueError(f'{len(strides)} encoder strides but '
                         f'{len(windows)} window sizes')
    H, W = size
    for stage, (stride, window) in enumerate(zip(strides, windows)):
        if H % stride or W % stride:
            raise ValueError(
                f'input {H}x{W} is not a multiple of stage {stage + 1}\'s '
                f'stride {stride}')
        h, w = H // stride, W // stride
        for side in (h, w):
            if window < side and side % window:
                raise ValueError(
                    f'input {H}x{W}: stage {stage + 1} has a {h}x{w} token '
                    f'map, which window {window} does not tile')


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
        window_size: window side per stage, to validate the input size.
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
        if isinstance(input_size, int):
            input_size = (input_size, input_size)
        self.input_size = tuple(input_size) if input_size else None
        self.encoder_strides = tuple(encoder_strides or ())
        self.window_size = tuple(window_size) if window_size else None
        if self.input_size is not None:
            self._check_size(self.input_size)

    def _check_size(self, size: Tuple[int, int]) -> Tuple[int, int]:
        H, W = size
        unit = self.mask_patch_size
        if self.input_size is not None and tuple(size) != self.input_size:
            raise ValueError(f'image is {H}x{W}, expected input_size '
                             f'{self.input_size[0]}x{self.input_size[1]}')
        if H % unit or W % unit:
            raise ValueError(
                f'image size {H}x{W} is not a multiple of mask_patch_size '
                f'{unit}: the mix-mask grid would not cover it')
        if self.window_size is not None:
            check_stage_windows(size, self.encoder_strides, self.window_size)
        grid = (H // unit, W // unit)
        if grid[0] * grid[1] < 2:
            raise ValueError(f'image {H}x{W} has a single {unit}-pixel unit: '
                             'nothing to mix')
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
        return (f'{self.__class__.__name__}('
                f'mask_patch_size={self.mask_patch_size}, '
                f'mask_ratio={self.mask_ratio}, '
                f'ratio_range={self.ratio_range}, '
                f'input_size={self.input_size}, '
                f'window_size={self.window_size})')
