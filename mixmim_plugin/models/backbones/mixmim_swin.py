"""MixMIM on Swin: mmpretrain's ``SwinTransformer`` plus a ``forward_mixed``
that encodes mixed images with (shifted) window attention restricted to each
source image.

The parameters and state-dict layout are the parent's, so mmpretrain Swin
checkpoints load and fine-tuning / detection use the normal ``forward``.
"""
from dataclasses import dataclass, replace
from typing import Dict, Tuple

import torch
import torch.nn.functional as F
from mmpretrain.models.backbones import SwinTransformer
from mmpretrain.models.backbones.swin_transformer import (SwinBlock,
                                                          SwinBlockSequence)
from mmpretrain.models.utils import ShiftWindowMSA, WindowMSA, resize_pos_embed
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from mixmim_plugin.registry import MODELS
from ..utils.attention import attend, default_backend
from ..utils.checked_load import LoadSpec, check_pretrained, swin_load_spec
from ..utils.masks import (Size, check_mix_units, same_source_pairs,
                           upsample_mask)
from ..utils.protocols import square_stride


@dataclass
class ShiftPlan:
    """How one kind of block of a stage partitions a mixed map.

    Attributes:
        hw: (H, W) of the token map.
        padded_hw: (Hp, Wp), multiples of the window.
        window: window side.
        shift: cyclic shift actually applied (0 where the parent skips it).
        allowed: (B * nW, 1, N, N) bool, True where a query may attend a
            key: same source image (padding counts as both), same region of
            the shifted map, in the parent's window order.
    """
    hw: Size
    padded_hw: Size
    window: int
    shift: int
    allowed: Tensor


def shift_plan(groups: Tensor, window: int, shift: int,
               pad_small_map: bool) -> ShiftPlan:
    """Plan the masked (shifted) window attention of a (B, H, W) bool source
    map, following the parent's window / shift / padding rules."""
    B, H, W = groups.shape
    if min(H, W) < window and not pad_small_map:
        raise ValueError(f'a {H}x{W} token map is smaller than the window '
                         f'{window}: use pad_small_map=True or a smaller '
                         'window_size (or a larger input)')
    if min(H, W) == window and not pad_small_map:
        shift = 0  # as ShiftWindowMSA: no shift when one window fits
    Hp, Wp = -(-H // window) * window, -(-W // window) * window
    labels = F.pad(groups.long(), (0, Wp - W, 0, Hp - H), value=-1)
    if shift:
        labels = torch.roll(labels, (-shift, -shift), (1, 2))
    labels = ShiftWindowMSA.window_partition(labels.unsqueeze(-1), window)
    labels = labels.reshape(-1, window * window)  # B * nW, N
    # padding is zeros after the norm: keys made of qkv biases only, the
    # same for every image; attendable as in the parent's forward
    allowed = same_source_pairs(labels, attend_padding=True)
    region = ShiftWindowMSA.get_attn_mask((Hp, Wp), window, shift,
                                          groups.device)
    if region is not None:  # nW, N, N; -100 across regions, 0 within
        allowed &= (region == 0).repeat(B, 1, 1).unsqueeze(1)
    return ShiftPlan((H, W), (Hp, Wp), window, shift, allowed)


def masked_window_attention(w_msa: WindowMSA, x: Tensor, allowed: Tensor,
                            policy: str) -> Tensor:
    """The parent's window attention with relative position bias and an
    allowed-pairs mask folded in as ``-inf``.

    Args:
        w_msa: the block's window attention (its parameters are used).
        x: (B * nW, N, C) window tokens.
        allowed: (B * nW, 1, N, N) bool.
        policy: the attention backend policy (:mod:`..utils.attention`).
    """
    Bw, N, C = x.shape
    heads = w_msa.num_heads
    qkv = w_msa.qkv(x).view(Bw, N, 3, heads, C // heads)
    q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # Bw, heads, N, d
    bias = torch.index_select(w_msa.relative_position_bias_table, 0,
                              w_msa.relative_position_index.view(-1))
    bias = bias.view(1, N, N, heads).permute(0, 3, 1, 2).to(q.dtype)
    scale = None if w_msa.scale == (C // heads)**-0.5 else w_msa.scale
    drop = w_msa.attn_drop.p if w_msa.training else 0.
    out = attend(q, k, v, bias, allowed, drop, scale, policy)
    out = out.transpose(1, 2).reshape(Bw, N, C)
    return w_msa.proj_drop(w_msa.proj(out))


def masked_shift_window_msa(msa: ShiftWindowMSA, x: Tensor, plan: ShiftPlan,
                            policy: str) -> Tensor:
    """``ShiftWindowMSA.forward`` with the plan's mask: (B, H * W, C) normed
    tokens -> (B, H * W, C) attention branch (after its drop path)."""
    B, _, C = x.shape
    (H, W), (Hp, Wp) = plan.hw, plan.padded_hw
    window, shift = plan.window, plan.shift
    x = F.pad(x.view(B, H, W, C), (0, 0, 0, Wp - W, 0, Hp - H))
    if shift:
        x = torch.roll(x, (-shift, -shift), (1, 2))
    windows = msa.window_partition(x, window).view(-1, window * window, C)
    windows = masked_window_attention(msa.w_msa, windows, plan.allowed, policy)
    x = msa.window_reverse(windows.view(-1, window, window, C), Hp, Wp, window)
    if shift:
        x = torch.roll(x, (shift, shift), (1, 2))
    return msa.drop(x[:, :H, :W].reshape(B, H * W, C))


def masked_swin_block(block: SwinBlock, x: Tensor, plan: ShiftPlan,
                      policy: str) -> Tensor:
    """``SwinBlock.forward`` with masked attention; (B, L, C) -> (B, L, C).
    Honours the block's gradient checkpointing."""

    def inner(x: Tensor) -> Tensor:
        x = x + masked_shift_window_msa(block.attn, block.norm1(x), plan,
                                        policy)
        return block.ffn(block.norm2(x), identity=x)

    if block.with_cp and x.requires_grad:
        return checkpoint(inner, x, use_reentrant=False)
    return inner(x)


@MODELS.register_module()
class MixMIMSwin(SwinTransformer):
    """A Swin Transformer that can be pretrained with MixMIM
    (arXiv:2205.13137, the paper's Swin experiment).

    Arguments and ``forward`` are those of mmpretrain's
    :class:`SwinTransformer`. :meth:`forward_mixed` runs the same blocks with
    the attention of every (shifted) window masked so that a token only
    attends to tokens of its own source image.

    Mask composition: per block kind of a stage (window, shift) the source
    label map is padded (label -1) and cyclically shifted exactly as the
    tokens are, then partitioned into the same windows; a query may attend a
    key iff they have the same label (or the key is padding) AND the same
    region of the shifted map (the parent's shift mask, which keeps tokens
    wrapped around from the opposite border apart). The result enters the
    additive bias as ``-inf`` after the relative position bias.

    Why this isolates the images: 7-token windows (28 px at stride 4) and
    their shifted copies do not align with 32-px units, so a window often
    holds both images, and the mask is what separates them, in plain and
    shifted windows alike (the labels move with the tokens). Everything else
    stays inside a unit: patch embedding (4 px), LN and MLP (per token) and
    patch merging, whose 2x2 groups at strides 4, 8 and 16 lie in one 32-px
    unit because the unit side in tokens (8, 4, 2) is even. Hence the
    last-stage tokens (stride 32) depend only on their own image; the tests
    check this, including shifted and padded windows. Padded tokens are
    zeros after the block norm, content-free and identical for both images;
    they stay attendable as in ``forward``, so a single-source mask
    reproduces ``forward`` exactly.

    Gradient checkpointing (``with_cp``) applies to ``forward_mixed`` too.
    The masked attention follows the ``attn_backend`` policy
    (:mod:`mixmim_plugin.models.utils.attention`); ``forward`` is the
    parent's.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.attn_backend = default_backend()

    def load_spec(self) -> LoadSpec:
        """The Swin layout's (:func:`swin_load_spec`), with the legacy keys
        that :meth:`_load_from_state_dict` upgrades."""
        spec = swin_load_spec(self.out_indices, self.num_layers)
        return replace(
            spec,
            derived=spec.derived + ('*attn_mask', ),
            aliases=(('norm.', f'norm{self.num_layers - 1}.'), ))

    def init_weights(self) -> None:
        check_pretrained(self, self.load_spec())
        super().init_weights()

    @property
    def output_channels(self) -> int:
        """Channels of the last stage (the tokens of :meth:`forward_mixed`)."""
        return self.num_features[-1]

    @property
    def output_grid(self) -> Size:
        """(h, w) of the last stage at the built ``img_size``."""
        stem = self.patch_embed.projection.stride[0]
        down = self.output_stride // stem
        return tuple(side // down for side in self.patch_resolution)

    @property
    def output_stride(self) -> int:
        """Pixels per last-stage token side."""
        conv = self.patch_embed.projection
        stride = square_stride(conv.kernel_size, conv.stride, 'patches')
        for stage in self.stages:
            if stage.downsample is not None:
                sampler = stage.downsample.sampler
                stride *= square_stride(sampler.kernel_size, sampler.stride,
                                        'patch merging')
        return stride

    def forward_mixed(self, x: Tensor, mix_mask: Tensor) -> Tensor:
        """Encode mixed images with per-source window attention.

        Args:
            x: (B, 3, H, W) mixed images; H and W multiples of the unit.
            mix_mask: (B, h, w) bool unit mask, True where the unit shows
                the partner image; a unit must be a multiple of the
                last-stage stride (32 for the standard Swin).

        Returns:
            (B, (H / s) * (W / s), C) last-stage tokens in raster order,
            after the last stage's norm (s: the last-stage stride).
        """
        last = self.num_layers - 1
        if last not in self.out_indices:
            raise ValueError(
                f'forward_mixed returns the last stage ({last}) through its '
                f'norm, but out_indices {self.out_indices} builds none')
        check_mix_units(x, mix_mask, self.output_stride, type(self).__name__)
        x, hw = self.patch_embed(x)
        if self.use_abs_pos_embed:
            x = x + resize_pos_embed(
                self.absolute_pos_embed, self.patch_resolution, hw,
                self.interpolate_mode, self.num_extra_tokens)
        x = self.drop_after_pos(x)
        for stage in self.stages:
            x = self._masked_stage(stage, x, upsample_mask(mix_mask, hw))
            if stage.downsample is not None:
                x, hw = stage.downsample(x, hw)
        return getattr(self, f'norm{last}')(x)

    def _masked_stage(self, stage: SwinBlockSequence, x: Tensor,
                      groups: Tensor) -> Tensor:
        """The blocks of a stage on (B, H * W, C) tokens with a (B, H, W)
        source map; one plan per (window, shift) kind of block."""
        plans: Dict[Tuple[int, int, bool], ShiftPlan] = {}
        for block in stage.blocks:
            msa = block.attn
            key = (msa.window_size, msa.shift_size, msa.pad_small_map)
            if key not in plans:
                plans[key] = shift_plan(groups, *key)
            x = masked_swin_block(block, x, plans[key], self.attn_backend)
        return x

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, *args,
                              **kwargs) -> None:
        """Upgrade old Swin checkpoints (``norm.`` for the last stage's norm,
        stored ``attn_mask`` buffers) as the parent does, which it only does
        for exact ``SwinTransformer`` instances."""
        version = local_metadata.get('version', None) or 0
        last_norm = f'{prefix}norm{self.num_layers - 1}.'
        for key in list(state_dict):
            if not key.startswith(prefix):
                continue
            if version < 2 and key.startswith(f'{prefix}norm.'):
                new_key = last_norm + key[len(f'{prefix}norm.'):]
                state_dict[new_key] = state_dict.pop(key)
            elif version < 3 and 'attn_mask' in key:
                del state_dict[key]
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      *args, **kwargs)
