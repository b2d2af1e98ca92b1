"""DropPos's ViT encoder: encodes the visible patches only, some of them
without their position embedding."""
from dataclasses import replace
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmpretrain.models import MAEViT
from mmpretrain.models.utils import resize_pos_embed
from torch import Tensor, nn

from mixmim_plugin.registry import MODELS
from ..utils.checked_load import LoadSpec, check_pretrained
from .mixmim_vit import VIT_LOAD_SPEC


def split_masks(patch_mask: Tensor, pos_mask: Tensor,
                grid: Tuple[int, int]) -> Tuple[Tensor, Tensor, int]:
    """Check DropPos masks against a patch grid and flatten them.

    Args:
        patch_mask: (B, h, w) bool, True where a patch is removed.
        pos_mask: (B, h, w) bool, True where a visible patch loses its
            position.
        grid: the encoder's (h, w) patch grid.

    Returns:
        ``visible`` (B, L) bool, ``dropped`` (B, L) bool and the number of
        visible patches per sample.
    """
    if patch_mask.shape != pos_mask.shape:
        raise ValueError(f'patch_mask {tuple(patch_mask.shape)} and pos_mask '
                         f'{tuple(pos_mask.shape)} differ in shape')
    if tuple(patch_mask.shape[1:]) != tuple(grid):
        raise ValueError(
            f'the masks are drawn on a {tuple(patch_mask.shape[1:])} grid, '
            f'the encoder has a {tuple(grid)} patch grid: set the mask '
            "transform's patch_size to the encoder's position unit")
    visible = ~patch_mask.flatten(1).bool()
    dropped = pos_mask.flatten(1).bool()
    if (dropped & ~visible).any():
        raise ValueError('pos_mask drops the position of a removed patch')
    counts = visible.sum(1)
    if (counts != counts[0]).any():
        raise ValueError('every sample must keep the same number of '
                         f'patches, got {counts.tolist()}')
    return visible, dropped, int(counts[0])


def visible_positions(visible: Tensor, num: int) -> Tensor:
    """(B, n) raster indices of the ``num`` True entries of each row of a
    (B, L) bool mask, ascending."""
    return visible.nonzero()[:, 1].view(visible.shape[0], num)


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

    Args:
        arch: mmpretrain's ViT archs (``'b'``, ``'l'``, ...), ``'tiny'``
            (64 wide, 4 layers, for tests and demos) or a dict.
        img_size: input size; the position grid must be square.
        patch_size: patch side.
        out_indices, drop_rate, drop_path_rate, norm_cfg, out_type,
        interpolate_mode, patch_cfg, layer_cfgs, init_cfg: as
            :class:`mmpretrain.models.VisionTransformer`.
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

    def __init__(self,
                 arch: Union[str, dict] = 'b',
                 img_size: int = 224,
                 patch_size: int = 16,
                 out_indices: Union[Sequence, int] = -1,
                 drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 norm_cfg: dict = dict(type='LN', eps=1e-6),
                 out_type: str = 'raw',
                 interpolate_mode: str = 'bicubic',
                 patch_cfg: dict = dict(),
                 layer_cfgs: dict = dict(),
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        super().__init__(
            arch=arch,
            img_size=img_size,
            patch_size=patch_size,
            out_indices=out_indices,
            drop_rate=drop_rate,
            drop_path_rate=drop_path_rate,
            norm_cfg=norm_cfg,
            final_norm=True,
            out_type=out_type,
            interpolate_mode=interpolate_mode,
            patch_cfg=patch_cfg,
            layer_cfgs=layer_cfgs,
            init_cfg=init_cfg)
        h, w = self.patch_resolution
        if h != w:
            raise ValueError(f'DropPosViT needs a square patch grid for its '
                             f'sin-cos position embedding, got {h}x{w}')
        self.mask_pos_token = nn.Parameter(torch.zeros(1, 1, self.embed_dims))

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
