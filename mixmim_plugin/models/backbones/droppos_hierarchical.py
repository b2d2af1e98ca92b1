"""DropPos on MixMIM's hierarchical encoder (not in the authors' code)."""
from dataclasses import replace
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mixmim_plugin.registry import MODELS
from ..utils.checked_load import LoadSpec, pretrained_cfg
from ..utils.masks import Size, split_masks, upsample_mask, visible_positions
from .mixmim_encoder import MixMIMEncoder


def shuffle_units(images: Tensor, origin: Tensor, unit: int) -> Tensor:
    """Move the ``unit``-pixel squares of images: square ``s`` of the output
    is square ``origin[:, s]`` of the input.

    Args:
        images: (B, C, H, W), H and W multiples of ``unit``.
        origin: (B, h * w) long, a permutation of the raster square indices
            per sample.
        unit: square side in pixels.

    Returns:
        (B, C, H, W) images.
    """
    B, C, H, W = images.shape
    h, w = H // unit, W // unit
    squares = images.view(B, C, h, unit, w, unit).permute(0, 2, 4, 1, 3, 5)
    squares = squares.reshape(B, h * w, -1)
    index = origin.unsqueeze(-1).expand(-1, -1, squares.shape[-1])
    squares = squares.gather(1, index).view(B, h, w, C, unit, unit)
    return squares.permute(0, 3, 1, 4, 2, 5).reshape(B, C, H, W)


def draw_origin(dropped: Tensor) -> Tensor:
    """A random permutation of each sample's dropped units among themselves.

    Args:
        dropped: (B, L) bool, the same number of True entries per row.

    Returns:
        (B, L) long ``origin``: the unit whose content goes to slot ``s``;
        ``origin[:, s] == s`` wherever ``dropped`` is False.
    """
    B, L = dropped.shape
    counts = dropped.sum(1)
    if (counts != counts[0]).any():
        raise ValueError('every sample must drop the same number of '
                         f'positions, got {counts.tolist()}')
    slots = visible_positions(dropped, int(counts[0]))
    order = torch.rand(slots.shape, device=slots.device).argsort(1)
    origin = torch.arange(L, device=dropped.device).repeat(B, 1)
    return origin.scatter(1, slots, slots.gather(1, order))


@MODELS.register_module()
class DropPosMixMIM(MixMIMEncoder):
    """:class:`MixMIMEncoder` pretrained with DropPos.

    Design (a hierarchical encoder has no token set to drop from and keeps
    every token on its 2-D grid):

    - **Position** = a unit of the last stage (``patch_size * 2 **
      (num_stages - 1)`` pixels: 32, a 7x7 grid at 224), one output token
      each. The mask transform must draw on this grid
      (``DropPositionMask(patch_size=32)``); the decoder classifies each
      visible unit into the ``h * w`` units.
    - **Patch masking**: the tokens of a removed unit are replaced, after
      the patch embedding, by a learned ``mask_token`` (as SimMIM): window
      attention and patch merging need the full grid.
    - **Position dropping**: the grid itself tells where a token is, through
      the window partition, the patch merging and the learned relative
      position bias (which gives every pair of tokens their relative
      offset). Replacing the absolute embedding alone would leave the task
      trivial. So the visible units whose position is dropped are
      **shuffled among their own slots** (the pixels are moved, whole
      units, before the patch embedding), and their tokens get the learned
      ``mask_pos_token`` instead of the absolute embedding. The relative
      bias and the window layout are kept: they now describe the slots, and
      for a shuffled unit the slot says nothing about where its content came
      from, while the bias stays trained for fine-tuning. Removed units also
      carry ``mask_pos_token``; only the kept units carry their absolute
      embedding.
    - **What the model can still know**: which slots hold shuffled units,
      so the task is to assign the k shuffled units to k known slots (still
      scored as an ``h * w``-way classification), whereas the ViT version
      chooses among every position not seen. A random permutation may leave
      a unit in place; that is not revealed.
    - **Attentive weights**: there is no [CLS]; the similarity is taken
      between the mean of the last-stage tokens and each unit token.

    Args:
        As :class:`MixMIMEncoder`.
    """
    num_extra_tokens = 0

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, self.embed_dims))
        self.mask_pos_token = nn.Parameter(torch.zeros(1, 1, self.embed_dims))
        self.unit = self.patch_size * 2**(self.num_stages - 1)

    @property
    def position_grid(self) -> Size:
        """(h, w) grid of last-stage units: the positions to reconstruct."""
        return self.output_grid

    def load_spec(self) -> LoadSpec:
        """:class:`MixMIMEncoder`'s, and the pretraining-only tokens
        (dropped from backbone-only checkpoints) are fresh too."""
        spec = super().load_spec()
        return replace(
            spec, fresh=spec.fresh + ('mask_token', 'mask_pos_token'))

    def init_weights(self) -> None:
        """Draw the tokens unless a checkpoint is loaded: its tokens are
        kept; a backbone-only checkpoint leaves them at zero."""
        super().init_weights()
        if pretrained_cfg(self.init_cfg) is None:
            nn.init.normal_(self.mask_token, std=.02)
            nn.init.normal_(self.mask_pos_token, std=.02)

    def embed_droppos(self, x: Tensor, patch_mask: Tensor, pos_mask: Tensor,
                      origin: Tensor) -> Tuple[Tensor, Size]:
        """First-stage tokens of shuffled, masked images.

        Args:
            x: (B, 3, H, W) images.
            patch_mask: (B, h, w) bool unit mask, True where removed.
            pos_mask: (B, h, w) bool, True where a visible unit loses its
                position.
            origin: (B, h * w) long, see :func:`draw_origin`.

        Returns:
            (B, L, C) tokens and their (H', W') grid.
        """
        tokens, hw = self.patch_embed(shuffle_units(x, origin, self.unit))
        hw = tuple(hw)
        masked = upsample_mask(patch_mask, hw).flatten(1).unsqueeze(-1)
        keep = ~upsample_mask(patch_mask | pos_mask, hw).flatten(1)
        tokens = torch.where(masked, self.mask_token.to(tokens.dtype), tokens)
        pos = torch.where(
            keep.unsqueeze(-1), self.pos_embed(hw), self.mask_pos_token)
        return self.drop_after_pos(tokens + pos.to(tokens.dtype)), hw

    def forward_droppos(self, x: Tensor, patch_mask: Tensor,
                        pos_mask: Tensor) -> Tuple[Tensor, Tensor]:
        """Encode images with removed and shuffled units.

        Args:
            x: (B, 3, H, W) images, H and W multiples of the unit.
            patch_mask, pos_mask: (B, h, w) bool unit masks (see
                :meth:`embed_droppos`).

        Returns:
            ``tokens`` (B, n, C) normalized last-stage tokens of the n
            visible slots (raster order) and ``positions`` (B, n): the unit
            each one's content comes from.
        """
        H, W = x.shape[-2:]
        if H % self.unit or W % self.unit:
            raise ValueError(f'input {H}x{W} is not a multiple of the '
                             f'{self.unit}-pixel position unit')
        grid = (H // self.unit, W // self.unit)
        visible, dropped, num = split_masks(patch_mask, pos_mask, grid)
        origin = draw_origin(dropped)
        tokens, hw = self.embed_droppos(x, patch_mask.bool(), pos_mask.bool(),
                                        origin)
        tokens = self.encode(tokens, hw)
        B, _, C = tokens.shape
        slots = visible_positions(visible, num)
        return tokens[visible].view(B, num, C), origin.gather(1, slots)

    def patch_similarity(self, x: Tensor) -> Tensor:
        """(B, L) cosine similarity of the mean last-stage token and each
        unit token of the whole (B, 3, H, W) images."""
        tokens = self.encode(*self.embed(x)).float()
        return F.cosine_similarity(
            tokens.mean(1, keepdim=True), tokens, dim=-1)
