"""Picture of MixMIM's dual reconstruction."""
from typing import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from mixmim_plugin.models import MixMIMPretrainer
from mixmim_plugin.models.utils import stack_masks
from .drawers import register_drawer
from .grids import denormalize, image_grid

COLUMNS = ('image A', 'image B', 'mix mask', 'mixed input', 'A rebuilt',
           'B rebuilt')


def mixmim_reconstruction_grid(model, inputs: Tensor, masks: Tensor,
                               mean: Sequence[float],
                               std: Sequence[float]) -> np.ndarray:
    """One row per pair (A = image i, B = its partner): both originals, the
    mix mask (white = B's pixels), the mixed input, and A and B rebuilt from
    that single mixed input.

    Args:
        model: a ``MixMIMPretrainer``.
        inputs: (B, 3, H, W) normalized images, B even.
        masks: (B, h, w) bool unit masks.
        mean, std: the data preprocessor's normalization (RGB).
    """
    model.eval()
    with torch.no_grad():
        out = model.reconstruct(inputs, masks)
    partner = model.partner_index(inputs.shape[0])
    images = denormalize(inputs, mean, std)
    mixed = denormalize(out['mixed'], mean, std)
    rec_self = denormalize(out['rec_self'], mean, std)
    rec_partner = denormalize(out['rec_partner'], mean, std)
    mask = out['mask'].squeeze(1).cpu().numpy().astype(np.uint8) * 255
    rows = []
    for i in range(inputs.shape[0] // 2):
        rows.append([
            images[i], images[int(partner[i])],
            np.repeat(mask[i][..., None], 3, axis=2), mixed[i], rec_self[i],
            rec_partner[i]
        ])
    return image_grid(rows, titles=COLUMNS)


@register_drawer(
    'mixmim', MixMIMPretrainer, 'mixmim_reconstruction', pairs=True)
def draw_mixmim(model: nn.Module, data: dict, mean: Sequence[float],
                std: Sequence[float]) -> np.ndarray:
    """:func:`mixmim_reconstruction_grid` of a preprocessed batch."""
    inputs = data['inputs']
    masks, = stack_masks(data['data_samples'], ['mix_mask'],
                         'MixMaskGenerator', inputs.device)
    return mixmim_reconstruction_grid(model, inputs, masks, mean, std)
