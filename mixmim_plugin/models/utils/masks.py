"""Mask helpers shared by the models.

A MixMIM mix mask lives on a grid of mix units (``(B, h, w)`` bool, True
where the unit shows the partner image); every consumer needs it on another
grid (pixels for mixing, tokens of each stage for masked attention, decoder
tokens for the loss), and the encoders must check that a unit covers whole
tokens. DropPos's masks come from the data samples the same way. These
helpers are the one place for each of those steps.
"""
from typing import List, Sequence, Tuple

import numpy as np
import torch
from mmpretrain.structures import DataSample
from torch import Tensor

Size = Tuple[int, int]


def upsample_mask(mask: Tensor, hw: Size) -> Tensor:
    """Nearest upsampling of a (B, h, w) mask to (B, H, W) bool.

    Raises:
        ValueError: H or W is not a multiple of h or w.
    """
    h, w = mask.shape[-2:]
    H, W = hw
    if H % h or W % w:
        raise ValueError(f'the mix-mask grid {h}x{w} does not divide the '
                         f'{H}x{W} map into whole units')
    rows = mask.bool().repeat_interleave(H // h, -2)
    return rows.repeat_interleave(W // w, -1)


def check_mix_units(x: Tensor, mix_mask: Tensor, stride: int,
                    owner: str) -> None:
    """Check a mixed batch against an encoder: every mix unit must cover
    whole tokens, or a token would hold pixels of both images.

    Args:
        x: (B, C, H, W) mixed images.
        mix_mask: (B, h, w) bool unit mask.
        stride: pixels per token side of the encoder's output.
        owner: the encoder's name, for the error messages.
    """
    B, _, H, W = x.shape
    if mix_mask.dim() != 3 or mix_mask.shape[0] != B:
        raise ValueError(f'{owner}: mix_mask must be (B, h, w) with B={B}, '
                         f'got {tuple(mix_mask.shape)}')
    if H % stride or W % stride:
        raise ValueError(f'{owner}: input {H}x{W} is not a multiple of the '
                         f'encoder stride {stride}')
    h, w = mix_mask.shape[1:]
    if H % h or W % w:
        raise ValueError(f'{owner}: the mix-mask grid {h}x{w} does not '
                         f'divide the {H}x{W} input into whole units')
    uh, uw = H // h, W // w
    if uh % stride or uw % stride:
        raise ValueError(
            f'{owner}: mix units of {uh}x{uw} px ({h}x{w} grid on {H}x{W}) '
            f'are not a multiple of the encoder stride {stride}: a token '
            'would hold pixels of both images')


def same_source_pairs(labels: Tensor, attend_padding: bool) -> Tensor:
    """Which token pairs of each window may attend each other.

    Args:
        labels: (Bw, N) long, the source image (0 or 1) of each token of
            each window, -1 for padding.
        attend_padding: whether real queries may attend padded keys (as
            mmpretrain's Swin does: its padding is zeros after the norm,
            the same for both images) or not (the MixMIM encoder).

    Returns:
        (Bw, 1, N, N) bool, True where query i may attend key j: the same
        source; a padded query may attend anything (its output is cropped).
    """
    allowed = labels.unsqueeze(-1) == labels.unsqueeze(-2)
    is_pad = labels < 0
    if attend_padding:
        allowed |= is_pad.unsqueeze(-2)
    else:
        allowed = (allowed & ~is_pad.unsqueeze(-2)) | is_pad.unsqueeze(-1)
    return allowed.unsqueeze(1)


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


def stack_masks(data_samples: List[DataSample], keys: Sequence[str],
                transform: str, device: torch.device) -> List[Tensor]:
    """Stack the samples' masks ``keys`` to (B, h, w) bool tensors.

    Args:
        data_samples: the batch's samples.
        keys: the mask fields, e.g. ``['mix_mask']``.
        transform: the pipeline transform that writes them (for the error).
        device: where the masks go.

    Raises:
        KeyError: a sample lacks a key; the message names the transform and
            the ``PackInputs`` keys to add.
    """
    if not data_samples or not all(key in s for s in data_samples
                                   for key in keys):
        names = '/'.join(repr(key) for key in keys)
        raise KeyError(f'the data samples carry no {names}: add '
                       f"dict(type='{transform}') to the pipeline and "
                       f'PackInputs(algorithm_keys={list(keys)})')
    return [
        torch.from_numpy(
            np.stack([np.asarray(s.get(key))
                      for s in data_samples])).to(device).bool()
        for key in keys
    ]
