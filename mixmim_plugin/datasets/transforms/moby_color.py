"""Colour jitter whose hue shift works with NumPy 2.

mmcv 2.1.0's ``adjust_hue`` computes ``np.uint8(hue_factor * 255)``; NumPy 2
raises ``OverflowError`` for the negative shifts that ``ColorJitter(hue=h)``
draws half of the time (NumPy 1 wrapped them around), so mmpretrain's
``ColorJitter`` with a hue range fails on this stack.
"""
import warnings
from typing import Dict

import cv2
import mmcv
import numpy as np
from mmpretrain.datasets.transforms import ColorJitter

from mixmim_plugin.registry import TRANSFORMS


def shift_hue(img: np.ndarray, hue_factor: float) -> np.ndarray:
    """Rotate the hue of a (H, W, 3) BGR image by ``hue_factor`` turns, in
    [-0.5, 0.5], as ``mmcv.adjust_hue`` (cv2 backend) did under NumPy 1: the
    shift of the 0-255 hue is ``int(hue_factor * 255)`` modulo 256."""
    if not -0.5 <= hue_factor <= 0.5:
        raise ValueError(f'hue_factor {hue_factor} is not in [-0.5, 0.5]')
    hsv = cv2.cvtColor(img.astype(np.uint8), cv2.COLOR_BGR2HSV_FULL)
    shift = np.uint8(int(hue_factor * 255) % 256)
    hsv[..., 0] += shift  # uint8 arithmetic wraps around the hue circle
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR_FULL).astype(img.dtype)


@TRANSFORMS.register_module()
class HueSafeColorJitter(ColorJitter):
    """mmpretrain's ``ColorJitter`` (same arguments and random draws:
    brightness, contrast, saturation and hue in random order) with the hue
    step done by :func:`shift_hue`."""

    def transform(self, results: Dict) -> Dict:
        img = results['img']
        order, brightness, contrast, saturation, hue = self._rand_params()
        for index in order:
            if index == 3 and hue is not None:
                img = shift_hue(img, hue)
            elif index != 3:
                img = self._adjust(img, index, brightness, contrast,
                                   saturation)
        results['img'] = img
        return results

    def _adjust(self, img: np.ndarray, index: int, brightness, contrast,
                saturation) -> np.ndarray:
        """Brightness (0), contrast (1) or saturation (2) as the parent."""
        if index == 0 and brightness is not None:
            return mmcv.adjust_brightness(
                img, brightness, backend=self.backend)
        if index == 1 and contrast is not None:
            return mmcv.adjust_contrast(img, contrast, backend=self.backend)
        if index == 2 and saturation is not None:
            with warnings.catch_warnings():  # mmcv warns at every pillow call
                warnings.filterwarnings('ignore', "Only use 'alpha'")
                return mmcv.adjust_color(
                    img, alpha=saturation, backend=self.backend)
        return img
