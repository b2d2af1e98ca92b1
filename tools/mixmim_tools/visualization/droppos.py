"""Picture of DropPos's position predictions: which dropped positions the
model got right, which wrong, and where it put each patch."""
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import Tensor, nn

from mixmim_plugin.models import DropPos
from mixmim_plugin.models.utils import stack_masks
from .drawers import register_drawer
from .grids import denormalize, image_grid

COLUMNS = ('original', 'masks', 'right / wrong', 'predicted layout')
LEGEND = ('masks: gray = removed patch, blue frame = visible patch whose '
          'position was dropped (to predict); others keep their position.',
          'right / wrong: green = position predicted right, red = wrong '
          '(arrow: true -> predicted position); dimmed = position kept.',
          'predicted layout: every visible patch drawn where the model puts '
          'it (kept ones at their true place); gray = no patch.')
GRAY = (127, 127, 127)
BLUE = (40, 90, 255)
GREEN = (0, 200, 0)
RED = (255, 0, 0)
GRID = (255, 255, 255)
TINT = 0.45  # opacity of the right / wrong colours


@torch.no_grad()
def droppos_predict(model, inputs: Tensor, patch_mask: Tensor,
                    pos_mask: Tensor) -> Dict[str, Tensor]:
    """Predict the positions of the visible patches.

    Args:
        model: :class:`~mixmim_plugin.models.DropPos` (ViT or hierarchical
            encoder).
        inputs: (B, 3, H, W) normalized images.
        patch_mask: (B, h, w) bool, True where a patch is removed.
        pos_mask: (B, h, w) bool, True where a visible patch loses its
            position.

    Returns:
        (B, n) tensors for the n visible patches: ``positions`` (long, the
        true position of each one's content), ``predicted`` (long, the
        arg-max position) and ``counted`` (bool, its position was dropped,
        so the prediction is scored).
    """
    model.eval()
    out = model.predict_positions(inputs, patch_mask, pos_mask)
    return dict(
        positions=out.positions,
        predicted=out.logits.argmax(-1),
        counted=out.counted)


def droppos_prediction_grid(model, inputs: Tensor, patch_mask: Tensor,
                            pos_mask: Tensor, mean: Sequence[float],
                            std: Sequence[float]) -> np.ndarray:
    """One row per image (columns :data:`COLUMNS`, explained by
    :data:`LEGEND` under the grid); each row's accuracy over its dropped
    positions is written on its "right / wrong" panel.

    Args:
        model: :class:`~mixmim_plugin.models.DropPos`.
        inputs: (B, 3, H, W) normalized images.
        patch_mask, pos_mask: (B, h, w) bool masks (see
            :func:`droppos_predict`).
        mean, std: the data preprocessor's normalization (RGB).

    Returns:
        (H', W', 3) uint8 grid.
    """
    out = {
        k: v.cpu().numpy()
        for k, v in droppos_predict(model, inputs, patch_mask,
                                    pos_mask).items()
    }
    images = denormalize(inputs, mean, std)
    grid = tuple(patch_mask.shape[1:])
    removed = patch_mask.flatten(1).cpu().numpy().astype(bool)
    rows = []
    for i, image in enumerate(images):
        true, pred, counted = (out['positions'][i], out['predicted'][i],
                               out['counted'][i])
        rows.append([
            draw_grid(image, grid),
            draw_masks(image, grid, removed[i], true[counted]),
            draw_right_wrong(image, grid, removed[i], true, pred, counted),
            draw_layout(image, grid, true, pred, counted),
        ])
    return add_caption(image_grid(rows, titles=COLUMNS), LEGEND)


@register_drawer('droppos', DropPos, 'droppos_positions')
def draw_droppos(model: nn.Module, data: dict, mean: Sequence[float],
                 std: Sequence[float]) -> np.ndarray:
    """:func:`droppos_prediction_grid` of a preprocessed batch."""
    inputs = data['inputs']
    patch_mask, pos_mask = stack_masks(data['data_samples'],
                                       ['patch_mask', 'pos_mask'],
                                       'DropPositionMask', inputs.device)
    return droppos_prediction_grid(model, inputs, patch_mask, pos_mask, mean,
                                   std)


# ---------------------------------------------------------------- drawing
def _cell(position: int, grid: Tuple[int, int],
          size: Tuple[int, int]) -> Tuple[int, int, int, int]:
    """Pixel box (x0, y0, x1, y1) of a raster position."""
    (h, w), (H, W) = grid, size
    row, col = divmod(int(position), w)
    y0, x0 = row * H // h, col * W // w
    return x0, y0, (col + 1) * W // w, (row + 1) * H // h


def _centre(position: int, grid: Tuple[int, int],
            size: Tuple[int, int]) -> Tuple[float, float]:
    x0, y0, x1, y1 = _cell(position, grid, size)
    return (x0 + x1 - 1) / 2, (y0 + y1 - 1) / 2


def _fill(image: np.ndarray, box: Tuple[int, int, int, int],
          colour: Sequence[int], alpha: float) -> None:
    x0, y0, x1, y1 = box
    patch = image[y0:y1, x0:x1].astype(np.float32)
    image[y0:y1, x0:x1] = np.round(patch * (1 - alpha) +
                                   np.asarray(colour) * alpha).astype(np.uint8)


def _lines(image: np.ndarray, grid: Tuple[int, int]) -> Image.Image:
    """A PIL copy of ``image`` with the patch grid drawn on it."""
    pil = Image.fromarray(image)
    draw = ImageDraw.Draw(pil)
    (h, w), (W, H) = grid, pil.size
    for r in range(1, h):
        draw.line([(0, r * H // h), (W, r * H // h)], fill=GRID)
    for c in range(1, w):
        draw.line([(c * W // w, 0), (c * W // w, H)], fill=GRID)
    return pil


def draw_grid(image: np.ndarray, grid: Tuple[int, int]) -> np.ndarray:
    """(H, W, 3) image with its (h, w) patch grid."""
    return np.asarray(_lines(image, grid))


def draw_masks(image: np.ndarray, grid: Tuple[int, int], removed: np.ndarray,
               dropped: np.ndarray) -> np.ndarray:
    """Removed patches (``removed``: (h*w,) bool) gray, patches whose
    position was dropped (``dropped``: their positions) framed blue."""
    image = image.copy()
    size = image.shape[:2]
    for position in np.flatnonzero(removed):
        _fill(image, _cell(position, grid, size), GRAY, 1.)
    pil = _lines(image, grid)
    draw = ImageDraw.Draw(pil)
    for position in dropped:
        x0, y0, x1, y1 = _cell(position, grid, size)
        draw.rectangle([x0, y0, x1 - 1, y1 - 1], outline=BLUE, width=2)
    return np.asarray(pil)


def draw_right_wrong(image: np.ndarray, grid: Tuple[int, int],
                     removed: np.ndarray, true: np.ndarray, pred: np.ndarray,
                     counted: np.ndarray) -> np.ndarray:
    """Scored patches tinted and framed green (right) or red (wrong, with an
    arrow from the true to the predicted position); kept ones dimmed,
    removed ones gray; the accuracy written in the corner.

    Args:
        image: (H, W, 3) uint8.
        grid: (h, w) positions.
        removed: (h * w,) bool.
        true, pred, counted: (n,) per visible patch (see
            :func:`droppos_predict`).
    """
    image = image.copy()
    size = image.shape[:2]
    for position in np.flatnonzero(removed):
        _fill(image, _cell(position, grid, size), GRAY, 1.)
    right = (true == pred) & counted
    for t, c, r in zip(true, counted, right):
        colour = (GREEN if r else RED) if c else (0, 0, 0)
        _fill(image, _cell(t, grid, size), colour, TINT)
    pil = _lines(image, grid)
    draw = ImageDraw.Draw(pil)
    for t, r in zip(true[counted], right[counted]):
        x0, y0, x1, y1 = _cell(t, grid, size)
        draw.rectangle([x0, y0, x1 - 1, y1 - 1],
                       outline=GREEN if r else RED,
                       width=2)
    for t, p in zip(true[counted & ~right], pred[counted & ~right]):
        _arrow(draw, _centre(t, grid, size), _centre(p, grid, size))
    text = f'{int(right.sum())}/{int(counted.sum())} right'
    draw.rectangle([0, size[0] - 12, 6 * len(text) + 3, size[0]],
                   fill=(0, 0, 0))
    draw.text((2, size[0] - 12), text, fill=(255, 255, 255))
    return np.asarray(pil)


def draw_layout(image: np.ndarray, grid: Tuple[int, int], true: np.ndarray,
                pred: np.ndarray, counted: np.ndarray) -> np.ndarray:
    """The visible patches moved to where the model puts them: kept
    positions at their true place, scored ones at their prediction (wrong
    ones first, so a right one is never hidden by a wrong one); gray where
    no patch lands."""
    canvas = np.empty_like(image)
    canvas[:] = GRAY
    size = image.shape[:2]
    right = (true == pred) & counted
    order = np.argsort(right.astype(int), kind='stable')
    for k in order:
        x0, y0, x1, y1 = _cell(true[k], grid, size)
        dx0, dy0, dx1, dy1 = _cell(pred[k] if counted[k] else true[k], grid,
                                   size)
        if (dx1 - dx0, dy1 - dy0) == (x1 - x0, y1 - y0):
            canvas[dy0:dy1, dx0:dx1] = image[y0:y1, x0:x1]
    return draw_grid(canvas, grid)


def _arrow(draw: ImageDraw.ImageDraw, start: Tuple[float, float],
           end: Tuple[float, float]) -> None:
    """A red line from ``start`` to ``end`` with a head at ``end``."""
    draw.line([start, end], fill=RED, width=2)
    vec = np.subtract(end, start)
    length = float(np.hypot(*vec))
    if length == 0:
        return
    unit, normal = vec / length, np.array([-vec[1], vec[0]]) / length
    base = np.asarray(end) - 6 * unit
    head: List[Tuple[float, float]] = [
        tuple(end),
        tuple(base + 3 * normal),
        tuple(base - 3 * normal)
    ]
    draw.polygon(head, fill=RED)


def add_caption(canvas: np.ndarray, lines: Sequence[str]) -> np.ndarray:
    """Append a white band with ``lines`` of text under ``canvas``; long
    lines are wrapped to the canvas width."""
    width = max(1, (canvas.shape[1] - 8) // 6)
    wrapped = []
    for line in lines:
        while len(line) > width:
            cut = line.rfind(' ', 0, width)
            cut = width if cut <= 0 else cut
            wrapped.append(line[:cut])
            line = line[cut:].lstrip()
        wrapped.append(line)
    band = Image.new('RGB', (canvas.shape[1], 12 * len(wrapped) + 8),
                     (255, 255, 255))
    draw = ImageDraw.Draw(band)
    for k, line in enumerate(wrapped):
        draw.text((4, 4 + 12 * k), line, fill=(0, 0, 0))
    return np.concatenate([canvas, np.asarray(band)], axis=0)
