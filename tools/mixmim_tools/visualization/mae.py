"""Picture of MAE's reconstruction (mmpretrain's ``MAE``, as the plugin's
MAE configs use it)."""
from typing import Dict, Sequence

import numpy as np
import torch
from mmpretrain.models.selfsup import MAE
from torch import Tensor, nn

from mixmim_plugin.models.heads import patches_to_image
from mixmim_plugin.models.utils import upsample_mask
from .drawers import register_drawer
from .grids import denormalize, image_grid

COLUMNS = ('original', 'masked input', 'reconstruction', 'rec. + visible')
# value shown for the removed patches of the masked input (uint8 gray)
REMOVED_GRAY = 127


@torch.no_grad()
def mae_reconstruct(model, inputs: Tensor) -> Dict[str, Tensor]:
    """Mask the images at random (the backbone's ratio, ``torch`` RNG),
    encode the visible patches and decode every patch.

    Args:
        model: mmpretrain's ``MAE`` (``MAEViT``, ``MAEPretrainDecoder``,
            ``MAEPretrainHead``).
        inputs: (B, C, H, W) normalized square images.

    Returns:
        ``pred`` (B, C, H, W): every patch as predicted, in the input space
        (norm-pix predictions are de-normalized with the statistics of the
        true patch, as MAE's own visualization does); ``mask``
        (B, 1, H, W) bool, True where a patch was removed.
    """
    model.eval()
    latent, mask, ids_restore = model.backbone(inputs)
    pred = model.neck(latent, ids_restore).float()
    side = inputs.shape[-1] // model.head.patch_size
    pixels = upsample_mask(mask.view(-1, side, side), inputs.shape[-2:])
    return dict(
        pred=patches_to_image(model.head, pred, inputs),
        mask=pixels.unsqueeze(1))


def mae_reconstruction_grid(model, inputs: Tensor, mean: Sequence[float],
                            std: Sequence[float]) -> np.ndarray:
    """One row per image: the original, the encoder's view (removed
    patches gray), every patch as reconstructed, and the reconstruction
    with the visible patches pasted back (MAE's usual picture).

    Args:
        model: mmpretrain's ``MAE``.
        inputs: (B, 3, H, W) normalized images.
        mean, std: the data preprocessor's normalization (RGB).

    Returns:
        (H', W', 3) uint8 grid.
    """
    out = mae_reconstruct(model, inputs)
    mask = out['mask'].squeeze(1).cpu().numpy()
    images = denormalize(inputs, mean, std)
    masked = images.copy()
    masked[mask] = REMOVED_GRAY
    pred = denormalize(out['pred'], mean, std)
    pasted = np.where(mask[..., None], pred, images)
    rows = [[images[i], masked[i], pred[i], pasted[i]]
            for i in range(inputs.shape[0])]
    return image_grid(rows, titles=COLUMNS)


@register_drawer('mae', MAE, 'mae_reconstruction')
def draw_mae(model: nn.Module, data: dict, mean: Sequence[float],
             std: Sequence[float]) -> np.ndarray:
    """:func:`mae_reconstruction_grid` of a preprocessed batch."""
    return mae_reconstruction_grid(model, data['inputs'], mean, std)
