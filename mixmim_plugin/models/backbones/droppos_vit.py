"""DropPos's ViT encoder: encodes the visible patches only, some of them
without their position embedding."""
from dataclasses import replace
from typing import Tuple

import torch
import torch.nn.functional as F
from mmpretrain.models import MAEViT
from mmpretrain.models.utils import resize_pos_embed
from torch import Tensor, nn

from mixmim_plugin.registry import MODELS
from ..utils.attention import use_plugin_attention
from ..utils.checked_load import VIT_LOAD_SPEC, LoadSpec, check_pretrained
from ..utils.masks import split_masks, visible_positions


@MODELS.register_module()
class DropPosViT(MAEViT):
    """ViT encoder of DropPos (`arXiv:2309.03576
    <https://arxiv.org/abs/2309.03576>`_).

    mmpretrain's :class:`MAEViT` (fixed 2-D sin-cos position embedding,
    [CLS] token) whose pretraining forward, :meth:`forward_droppos`, takes
    the masks from the data pipeline: it keeps the visible patches only, and
    replaces the position embedding of the visible patches in ``pos_mask``
    with a learned mask-position token. [CLS] keeps its own embedding. Token
    order carries no position: the transformer is permutation-equivariant
    and the tokens go in ascending raster order.

    ``forward`` encodes whole images like mmpretrain's ViT (``out_type``).

    Arguments are :class:`MAEViT`'s (its ``mask_ratio`` is unused: the masks
    come from the pipeline); ``arch`` also takes ``'tiny'`` (64 wide, 4
    layers, for tests and demos). The position grid must be square.
    """
    arch_zoo = {
        **MAEViT.arch_zoo,
        **dict.fromkeys(
            ['t', 'tiny'], {
                'embed_dims': 64,
                'num_layers': 4,
                'num_heads': 4,
                'feedforward_channels': 256
            }),
    }

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        h, w = self.patch_resolution
        if h != w:
            raise ValueError(f'DropPosViT needs a square patch grid for its '
                             f'sin-cos position embedding, got {h}x{w}')
        self.mask_pos_token = nn.Parameter(torch.zeros(1, 1, self.embed_dims))
        use_plugin_attention(self.layers)

    @property
    def output_channels(self) -> int:
        """Channels of the encoded tokens."""
        return self.embed_dims

    @property
    def position_grid(self) -> Tuple[int, int]:
        """(h, w) patch grid: the positions to reconstruct."""
        return tuple(self.patch_resolution)

    def load_spec(self) -> LoadSpec:
        """The ViT's (:data:`VIT_LOAD_SPEC`), and the pretraining-only
        mask-position token (dropped from backbone-only checkpoints) is
        fresh too."""
        return replace(
            VIT_LOAD_SPEC, fresh=VIT_LOAD_SPEC.fresh + ('mask_pos_token', ))

    def init_weights(self) -> None:
        """Without a checkpoint: MAEViT's random init and a drawn
        mask-position token. With one: the checked load only (MAEViT's init
        would redraw the loaded patch embedding and [CLS] token); the
        mask-position token is the checkpoint's, or zero."""
        if check_pretrained(self, self.load_spec()):
            super(MAEViT, self).init_weights()
            return
        super().init_weights()
        nn.init.normal_(self.mask_pos_token, std=.02)

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Encode whole (B, 3, H, W) images; outputs as ``out_type``."""
        return super().forward(x, mask=None)

    def embed_droppos(self, x: Tensor, patch_mask: Tensor,
                      pos_mask: Tensor) -> Tuple[Tensor, Tensor]:
        """Tokens entering the first block.

        Args:
            x: (B, 3, H, W) images.
            patch_mask: (B, h, w) bool, True where a patch is removed.
            pos_mask: (B, h, w) bool, True where a visible patch gets the
                mask-position token instead of its position embedding.

        Returns:
            ``tokens`` (B, 1 + n, C): [CLS], then the n visible patches in
            raster order; ``positions`` (B, n): their raster indices.
        """
        B = x.shape[0]
        x, hw = self.patch_embed(x)
        visible, dropped, num = split_masks(patch_mask, pos_mask, hw)
        pos_embed = self._pos_embed(hw)
        patch_pos = torch.where(
            dropped.unsqueeze(-1), self.mask_pos_token, pos_embed[:, 1:])
        x = x + patch_pos
        positions = visible_positions(visible, num)
        x = x[visible].view(B, num, -1)
        cls_token = (self.cls_token + pos_embed[:, :1]).expand(B, -1, -1)
        x = torch.cat((cls_token.to(x.dtype), x), dim=1)
        return self.pre_norm(self.drop_after_pos(x)), positions

    def forward_droppos(self, x: Tensor, patch_mask: Tensor,
                        pos_mask: Tensor) -> Tuple[Tensor, Tensor]:
        """Encode the visible patches (arguments as :meth:`embed_droppos`).

        Returns:
            ``tokens`` (B, 1 + n, C) normalized ([CLS] first) and
            ``positions`` (B, n) true raster index of each visible patch.
        """
        x, positions = self.embed_droppos(x, patch_mask, pos_mask)
        return self._blocks(x), positions

    def patch_similarity(self, x: Tensor) -> Tensor:
        """(B, L) cosine similarity of [CLS] and each patch token after
        encoding the whole (B, 3, H, W) images, for the attentive
        reconstruction weights."""
        B = x.shape[0]
        x, hw = self.patch_embed(x)
        pos_embed = self._pos_embed(hw)
        cls_token = self.cls_token.expand(B, -1, -1).to(x.dtype)
        x = torch.cat((cls_token, x), dim=1) + pos_embed
        x = self._blocks(self.pre_norm(self.drop_after_pos(x))).float()
        return F.cosine_similarity(x[:, :1], x[:, 1:], dim=-1)

    def _pos_embed(self, hw: Tuple[int, int]) -> Tensor:
        """(1, 1 + h * w, C) position embedding for a patch grid."""
        return resize_pos_embed(
            self.pos_embed,
            self.patch_resolution,
            hw,
            mode=self.interpolate_mode,
            num_extra_tokens=self.num_extra_tokens)

    def _blocks(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return self.ln1(x)
