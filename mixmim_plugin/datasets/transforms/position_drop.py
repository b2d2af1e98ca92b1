"""DropPos's two masks, drawn per sample in the data pipeline: which patches
are removed, and which of the visible ones lose their position."""
from typing import Optional, Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform

from mixmim_plugin.registry import TRANSFORMS
from .mask_grid import as_size, describe, unit_grid

# ``floor(n * (1 - ratio))`` is taken with this tolerance, so that a product
# such as 10 * (1 - 0.9) = 0.9999999999999998 counts as 1, not 0.
_FLOOR_TOLERANCE = 1e-6


def _check_ratio(name: str, value: float) -> None:
    if not 0 <= value < 1:
        raise ValueError(f'{name} must be in [0, 1), got {value}')


def droppos_counts(num_patches: int, mask_ratio: float,
                   pos_mask_ratio: float) -> Tuple[int, int]:
    """Visible patches and visible patches that keep their position.

    The rounding rule (the authors' and MAE's ``int(L * (1 - ratio))``, with
    a 1e-6 tolerance against floating-point error):
    ``visible = floor(num_patches * (1 - mask_ratio))`` and
    ``keep = floor(visible * (1 - pos_mask_ratio))``; the other
    ``visible - keep`` patches lose their position. At 224 with 16-pixel
    patches and both ratios 0.75: 196 -> 49 visible -> 12 keep, 37 dropped.

    Raises:
        ValueError: a ratio outside [0, 1), no visible patch, or no dropped
            position (nothing to predict).
    """
    _check_ratio('mask_ratio', mask_ratio)
    _check_ratio('pos_mask_ratio', pos_mask_ratio)
    visible = int(num_patches * (1 - mask_ratio) + _FLOOR_TOLERANCE)
    if visible < 1:
        raise ValueError(f'mask_ratio {mask_ratio} leaves no visible patch '
                         f'of {num_patches}')
    keep = int(visible * (1 - pos_mask_ratio) + _FLOOR_TOLERANCE)
    if keep == visible:
        raise ValueError(
            f'pos_mask_ratio {pos_mask_ratio} drops no position among the '
            f'{visible} visible patches: nothing to predict')
    return visible, keep


@TRANSFORMS.register_module()
class DropPositionMask(BaseTransform):
    """Draw DropPos's patch mask and position mask for one image.

    ``visible`` patches of the ``patch_size`` grid, chosen uniformly at
    random, stay; among them ``visible - keep`` lose their position embedding
    (counts by :func:`droppos_counts`). Draw it after the geometric
    augmentations, before ``PackInputs`` with
    ``algorithm_keys=['patch_mask', 'pos_mask']``.

    Required keys: ``img``. Added keys: ``patch_mask`` (bool ndarray, (h, w),
    True where the patch is removed) and ``pos_mask`` (bool ndarray, (h, w),
    True where a visible patch loses its position; never True where
    ``patch_mask`` is).

    Args:
        patch_size: side of a position in pixels: the ViT patch (16), or the
            unit of the last stage of a hierarchical encoder (32).
        mask_ratio: fraction of patches removed, in [0, 1).
        pos_mask_ratio: fraction of the visible patches whose position is
            dropped, in [0, 1); at least one must be dropped.
        input_size: expected (H, W) (or side) of ``img``; checked, and the
            counts validated, at construction when given.
    """

    def __init__(self,
                 patch_size: int = 16,
                 mask_ratio: float = 0.75,
                 pos_mask_ratio: float = 0.75,
                 input_size: Optional[Union[int, Tuple[int,
                                                       int]]] = None) -> None:
        if not isinstance(patch_size, int) or patch_size <= 0:
            raise ValueError(
                f'patch_size must be a positive int, got {patch_size!r}')
        _check_ratio('mask_ratio', mask_ratio)
        _check_ratio('pos_mask_ratio', pos_mask_ratio)
        self.patch_size = patch_size
        self.mask_ratio = mask_ratio
        self.pos_mask_ratio = pos_mask_ratio
        self.input_size = as_size(input_size)
        if self.input_size is not None:
            self._counts(self._grid(self.input_size))

    def _grid(self, size: Tuple[int, int]) -> Tuple[int, int]:
        return unit_grid(size, self.patch_size, 'patch_size', 'patch grid',
                         self.input_size)

    def _counts(self, grid: Tuple[int, int]) -> Tuple[int, int]:
        try:
            return droppos_counts(grid[0] * grid[1], self.mask_ratio,
                                  self.pos_mask_ratio)
        except ValueError as error:
            raise ValueError(f'{grid[0]}x{grid[1]} patch grid: {error}')

    def transform(self, results: dict) -> dict:
        grid = self._grid(results['img'].shape[:2])
        visible, keep = self._counts(grid)
        num = grid[0] * grid[1]
        order = np.random.permutation(num)
        patch_mask = np.ones(num, dtype=bool)
        patch_mask[order[:visible]] = False
        pos_mask = np.zeros(num, dtype=bool)
        pos_mask[order[keep:visible]] = True
        results['patch_mask'] = patch_mask.reshape(grid)
        results['pos_mask'] = pos_mask.reshape(grid)
        return results

    def __repr__(self) -> str:
        return describe(self, 'patch_size', 'mask_ratio', 'pos_mask_ratio',
                        'input_size')
