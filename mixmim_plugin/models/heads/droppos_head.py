"""DropPos's position-prediction loss: cross entropy against smoothed
position targets, optionally weighted by attentive reconstruction."""
import math
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from mixmim_plugin.registry import MODELS

NORMALIZATIONS = ('batch', 'sample')


def _check_sigma(sigma: float) -> float:
    sigma = float(sigma)
    if not (math.isfinite(sigma) and sigma >= 0):
        raise ValueError(f'sigma must be finite and >= 0, got {sigma}')
    return sigma


def position_smoothing(grid: Tuple[int, int],
                       sigma: float,
                       device: Optional[torch.device] = None) -> Tensor:
    """Smoothed position targets on the true 2-D patch grid.

    Row ``i`` is the target of a token from position ``i``:
    ``w(i, j) = exp(-d(i, j)^2 / sigma^2) / sum_k exp(-d(i, k)^2 / sigma^2)``
    with ``d`` the Euclidean distance between the (row, column) coordinates
    of positions ``i`` and ``j`` on the (h, w) grid (raster order). Rows sum
    to 1; ``sigma = 0`` gives one-hot rows. (The authors' code builds the
    map on a 16-wide grid cut to 196 columns and divides by column sums;
    neither is done here.)

    Args:
        grid: (h, w).
        sigma: smoothing width in patches, >= 0.
        device: where to build the map.

    Returns:
        (h * w, h * w) float32.
    """
    sigma = _check_sigma(sigma)
    h, w = grid
    if sigma**2 == 0:
        return torch.eye(h * w, device=device)
    rows = torch.arange(h, device=device).repeat_interleave(w)
    cols = torch.arange(w, device=device).repeat(h)
    coords = torch.stack([rows, cols], dim=-1).double()
    dist2 = (coords[:, None] - coords[None]).pow(2).sum(-1)
    return torch.softmax(-dist2 / sigma**2, dim=-1).float()


def attentive_weights(similarity: Tensor, positions: Tensor,
                      tau: float) -> Tensor:
    """DropPos's attentive reconstruction weights.

    ``softmax_j(similarity_j / tau)`` over all patches of the whole image,
    gathered to the visible tokens and renormalised over them (the
    authors' ``attn / attn.sum(-1)``), so each sample's weights sum to 1
    over its visible tokens.

    Args:
        similarity: (B, L) cos([CLS], patch) of the unmasked images.
        positions: (B, n) true position of each visible token.
        tau: temperature.

    Returns:
        (B, n) float32 weights.
    """
    attn = torch.softmax(similarity.float() / tau, dim=-1).gather(1, positions)
    return attn / attn.sum(-1, keepdim=True)


@MODELS.register_module()
class DropPosHead(BaseModule):
    """Cross entropy between the position logits of the tokens whose
    position was dropped and their smoothed true positions.

    Each counted token's loss gets a weight (uniform, or
    :func:`attentive_weights`); ``normalization`` says how they are pooled:

    * ``'batch'`` (the authors'): one ratio over the whole batch,
      ``sum(w * CE) / sum(w)`` over every counted token of every image;
    * ``'sample'``: the weights are renormalised over each image's counted
      tokens, the images' losses averaged, so every image weighs the same
      whatever its weights (the plugin's earlier default).

    Returns ``loss_pos`` and ``acc_pos``, the top-1 position accuracy over
    the counted tokens, unweighted (its key has no "loss": logged, not
    summed; the authors weight the logged accuracy like the loss).

    Args:
        grid: (h, w) position grid (or its side); N = h * w classes.
        sigma: smoothing width in patches (:func:`position_smoothing`);
            0 switches smoothing off. :class:`DropPosSigmaHook` decays it.
        attentive: weight tokens by :func:`attentive_weights` (needs the
            similarity of the unmasked images); False: uniform weights.
        tau: temperature of the attentive weights.
        normalization: ``'batch'`` or ``'sample'``, see above.
        init_cfg: initialization config.
    """

    def __init__(self,
                 grid: Union[int, Sequence[int]] = 14,
                 sigma: float = 1.,
                 attentive: bool = True,
                 tau: float = 0.1,
                 normalization: str = 'batch',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        grid = (grid, grid) if isinstance(grid, int) else tuple(grid)
        if len(grid) != 2 or min(grid) < 1 or grid[0] * grid[1] < 2:
            raise ValueError(f'grid must be (h, w) with at least 2 '
                             f'positions, got {grid}')
        if tau <= 0:
            raise ValueError(f'tau must be positive, got {tau}')
        if normalization not in NORMALIZATIONS:
            raise ValueError(f'normalization must be one of {NORMALIZATIONS}, '
                             f'got {normalization!r}')
        self.grid = grid
        self.normalization = normalization
        self.sigma = sigma
        self.attentive = attentive
        self.tau = tau

    @property
    def num_positions(self) -> int:
        return self.grid[0] * self.grid[1]

    @property
    def sigma(self) -> float:
        return self._sigma

    @sigma.setter
    def sigma(self, value: float) -> None:
        self._sigma = _check_sigma(value)

    def loss(self,
             logits: Tensor,
             positions: Tensor,
             counted: Tensor,
             similarity: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """Position loss and accuracy.

        Args:
            logits: (B, n, N) position logits of the visible tokens.
            positions: (B, n) long, their true positions.
            counted: (B, n) bool, True where the position was dropped.
            similarity: (B, N) cos([CLS], patch) of the unmasked images;
                needed when ``attentive``.

        Returns:
            ``loss_pos`` and ``acc_pos`` scalars.
        """
        if logits.shape[-1] != self.num_positions:
            raise ValueError(f'{logits.shape[-1]} position logits for a '
                             f'{self.grid[0]}x{self.grid[1]} grid')
        counted = counted.bool()
        if not counted.any():
            raise ValueError('no dropped position to predict in the batch')
        if self.normalization == 'sample' and not counted.any(1).all():
            raise ValueError("a sample has no dropped position to predict "
                             "(normalization='sample' averages per sample)")
        target = position_smoothing(self.grid, self.sigma,
                                    logits.device)[positions]
        log_prob = F.log_softmax(logits.float(), dim=-1)
        token_loss = -(target * log_prob).sum(-1)
        weights = self.weights(positions, counted, similarity)
        if self.normalization == 'batch':
            loss = (weights * token_loss).sum() / weights.sum()
        else:
            weights = weights / weights.sum(-1, keepdim=True)
            loss = (weights * token_loss).sum(-1).mean()
        with torch.no_grad():
            hits = (logits.argmax(-1) == positions) & counted
            acc = hits.sum() / counted.sum()
        return dict(loss_pos=loss, acc_pos=acc)

    def weights(self, positions: Tensor, counted: Tensor,
                similarity: Optional[Tensor]) -> Tensor:
        """(B, n) float32 token weights, zero where not counted (not yet
        normalised)."""
        if not self.attentive:
            return counted.float()
        if similarity is None:
            raise ValueError('attentive=True needs the patch similarity of '
                             'the unmasked images')
        return attentive_weights(similarity, positions, self.tau) * counted
