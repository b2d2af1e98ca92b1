"""Image grids for inspecting pretraining (reconstructions, masks)."""
import os
import os.path as osp
from typing import List, Optional, Sequence

import numpy as np
import torch
from PIL import Image
from torch import Tensor


def denormalize(images: Tensor, mean: Sequence[float],
                std: Sequence[float]) -> np.ndarray:
    """(B, C, H, W) normalized RGB -> (B, H, W, 3) uint8."""
    mean_t = torch.as_tensor(mean, dtype=images.dtype).view(1, -1, 1, 1)
    std_t = torch.as_tensor(std, dtype=images.dtype).view(1, -1, 1, 1)
    x = (images.detach().float().cpu() * std_t + mean_t).clamp(0, 255)
    return x.permute(0, 2, 3, 1).round().to(torch.uint8).numpy()


def image_grid(rows: List[List[np.ndarray]],
               titles: Optional[Sequence[str]] = None,
               pad: int = 4) -> np.ndarray:
    """Tile equally sized (H, W, 3) uint8 images, one list per row; a title
    band (drawn with PIL's default font) goes on top when ``titles``."""
    if not rows or not rows[0]:
        raise ValueError('image_grid needs at least one image')
    H, W = rows[0][0].shape[:2]
    ncols = max(len(r) for r in rows)
    top = 16 if titles else 0
    canvas = np.full(
        (top + len(rows) * (H + pad) + pad, ncols * (W + pad) + pad, 3), 255,
        np.uint8)
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            if image.shape[:2] != (H, W):
                raise ValueError(f'grid image {r},{c} is {image.shape[:2]}, '
                                 f'expected {(H, W)}')
            y, x = top + pad + r * (H + pad), pad + c * (W + pad)
            canvas[y:y + H, x:x + W] = image
    if titles:
        from PIL import ImageDraw
        pil = Image.fromarray(canvas)
        draw = ImageDraw.Draw(pil)
        for c, title in enumerate(titles):
            draw.text((pad + c * (W + pad), 2), title, fill=(0, 0, 0))
        canvas = np.asarray(pil)
    return canvas


def save_png(image: np.ndarray, path: str) -> str:
    """Write an (H, W, 3) uint8 array as PNG (atomically) and return the
    path."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = f'{path}.tmp.png'
    Image.fromarray(image).save(tmp)
    os.replace(tmp, path)
    return path
