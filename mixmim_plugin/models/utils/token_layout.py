"""Token layouts for one stage of a hierarchical encoder.

A stage whose blocks never shift their windows can partition its feature map
ONCE, run every block on the partitioned tokens (norms, MLPs and residuals are
token-wise), and restore the map once at the end. mmpretrain's MixMIM block
partitions and restores the map in every block; this saves two copies a block.

Two layouts exist:

* :class:`WindowLayout` -- tokens in window-major order, ``(B, nW * N, C)``
  with ``N = wh * ww``. Attention runs on ``(B * nW, N, C)``. An optional
  boolean ``allowed`` mask (``(B * nW, 1, N, N)``) keeps a token from
  attending to another image's tokens (MixMIM's masked self-attention) and to
  padding. It is built once a stage, not once a block.
* :class:`GroupLayout` -- the fast path for MixMIM pretraining when a stage's
  window covers the whole map (stages 3 and 4 at 224). The mix mask makes the
  attention block-diagonal: a token only attends to the tokens of its own
  source image. Sorting each image's tokens by source (a stable argsort of the
  mask) turns the masked ``N x N`` attention into two dense attentions of
  ``N0 x N0`` and ``N1 x N1`` with ``N0 + N1 = N``: about half the work and no
  mask at all. It needs every sample to have the same number of tokens per
  source (true for a fixed mask ratio); otherwise the window layout with a
  mask is used.
"""
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

Size = Tuple[int, int]


@dataclass
class WindowLayout:
    """Window-major token order; see the module docstring.

    Without padding, the stage's tokens are laid out in windows once
    (:meth:`enter`) and attention views them as ``(B * nW, N, C)``. When the
    map needs padding to fit the windows (dense inputs of any size), the
    stage's tokens stay in raster order and unpadded, so norms and MLPs never
    run on padding, and attention pads and partitions its qkv per block
    (:meth:`windows` / :meth:`unwindows`).

    Attributes:
        batch: B, the number of images.
        hw: (H, W) of the feature map before padding.
        padded_hw: (Hp, Wp), multiples of the window.
        window: (wh, ww).
        allowed: ``(B * nW, 1, N, N)`` bool, True where query i may attend to
            key j; None when every token may attend to every token.
    """
    batch: int
    hw: Size
    padded_hw: Size
    window: Size
    allowed: Optional[Tensor] = None

    @property
    def num_windows(self) -> int:
        return (self.padded_hw[0] // self.window[0]) * (
            self.padded_hw[1] // self.window[1])

    @property
    def window_tokens(self) -> int:
        return self.window[0] * self.window[1]

    @property
    def padded(self) -> bool:
        return tuple(self.padded_hw) != tuple(self.hw)

    def enter(self, x: Tensor) -> Tensor:
        """(B, H * W, C) raster tokens -> the stage's token order."""
        return x if self.padded else self.partition(x)

    def exit(self, x: Tensor) -> Tensor:
        """Inverse of :meth:`enter`."""
        return x if self.padded else self.merge(x)

    def windows(self, x: Tensor) -> Tensor:
        """Stage tokens (B, L, C') -> (B * nW, N, C') windows."""
        if self.padded:
            x = self.partition(x)
        return x.reshape(-1, self.window_tokens, x.shape[-1])

    def unwindows(self, x: Tensor) -> Tensor:
        """Inverse of :meth:`windows`."""
        x = x.reshape(self.batch, -1, x.shape[-1])
        return self.merge(x) if self.padded else x

    def partition(self, x: Tensor) -> Tensor:
        """(B, H * W, C) raster -> (B, nW * N, C) zero-padded windows."""
        B, (H, W), C = self.batch, self.hw, x.shape[-1]
        (Hp, Wp), (wh, ww) = self.padded_hw, self.window
        x = x.view(B, H, W, C)
        if (Hp, Wp) != (H, W):
            x = F.pad(x, (0, 0, 0, Wp - W, 0, Hp - H))
        if (wh, ww) == (Hp, Wp):
            return x.reshape(B, Hp * Wp, C)
        x = x.view(B, Hp // wh, wh, Wp // ww, ww, C).transpose(2, 3)
        return x.reshape(B, Hp * Wp, C)

    def merge(self, x: Tensor) -> Tensor:
        """Inverse of :meth:`partition` (the padding is cropped)."""
        B, (H, W), C = self.batch, self.hw, x.shape[-1]
        (Hp, Wp), (wh, ww) = self.padded_hw, self.window
        if (wh, ww) != (Hp, Wp):
            x = x.view(B, Hp // wh, Wp // ww, wh, ww, C).transpose(2, 3)
        x = x.reshape(B, Hp, Wp, C)
        if (Hp, Wp) != (H, W):
            x = x[:, :H, :W]
        return x.reshape(B, H * W, C)


@dataclass
class GroupLayout:
    """Tokens of each image sorted by source image; see the module docstring.

    Attributes:
        batch: B.
        hw: (H, W) of the feature map (one window covers it).
        order: ``(B, H * W)`` long, the raster index of each sorted token.
        spans: ``[(0, N0), (N0, N)]``, the token range of each source.
        rel_index: per span, ``(U, n, n)`` long: raster-order pair indices
            (``i * N + j``) of the span's tokens for each of the U distinct
            masks of the batch, to gather the relative position bias once
            per distinct mask (the two images of a pair share a mask; with
            the authors' one mask per batch, U = 1).
        mask_index: ``(B,)`` long, the distinct mask of each sample; None
            when U is 1 (the bias broadcasts) or the map is the identity.
    """
    batch: int
    hw: Size
    order: Tensor
    spans: List[Tuple[int, int]]
    rel_index: List[Tensor] = field(default_factory=list)
    mask_index: Optional[Tensor] = None

    @property
    def window(self) -> Size:
        return self.hw

    def enter(self, x: Tensor) -> Tensor:
        index = self.order.unsqueeze(-1).expand(-1, -1, x.shape[-1])
        return torch.gather(x, 1, index)

    def exit(self, x: Tensor) -> Tensor:
        index = self.order.unsqueeze(-1).expand(-1, -1, x.shape[-1])
        return torch.empty_like(x).scatter_(1, index, x)


Layout = object  # WindowLayout | GroupLayout (py3.9-friendly alias)


def resolve_window(hw: Size, window: Optional[int]) -> Size:
    """The window used on an (H, W) map: ``None`` means global attention, and
    a window at least as large as the map side is clipped to it (the authors'
    rule: stages 3 and 4 at 224 are global)."""
    H, W = hw
    if window is None:
        return H, W
    return min(window, H), min(window, W)


def build_layout(hw: Size,
                 batch: int,
                 window: Optional[int],
                 groups: Optional[Tensor] = None,
                 prefer_groups: bool = True) -> Layout:
    """Choose the token layout of a stage.

    Args:
        hw: (H, W) of the stage's feature map.
        batch: number of images B.
        window: window side, or None for global attention.
        groups: ``(B, H, W)`` bool, True where a token comes from the partner
            image (MixMIM's mix mask at this resolution); None when not mixing.
        prefer_groups: use :class:`GroupLayout` where it applies.
    """
    H, W = hw
    wh, ww = resolve_window(hw, window)
    Hp, Wp = -(-H // wh) * wh, -(-W // ww) * ww
    is_global = (wh, ww) == (H, W)
    if groups is not None and is_global and prefer_groups:
        layout = _group_layout(hw, groups)
        if layout is not None:
            return layout
    allowed = None
    if groups is not None or (Hp, Wp) != (H, W):
        allowed = _allowed_pairs(hw, (Hp, Wp), (wh, ww), batch, groups)
    return WindowLayout(batch, hw, (Hp, Wp), (wh, ww), allowed)


def _allowed_pairs(hw: Size, padded_hw: Size, window: Size, batch: int,
                   groups: Optional[Tensor]) -> Tensor:
    """(B * nW, 1, N, N) bool: same source image and key not padding."""
    H, W = hw
    device = groups.device if groups is not None else None
    # label 0/1 = source image, 2 = padding
    labels = torch.full((batch, H, W), 0, dtype=torch.long, device=device)
    if groups is not None:
        labels = groups.to(torch.long).reshape(batch, H, W)
    layout = WindowLayout(batch, hw, padded_hw, window)
    labels = labels.reshape(batch, H * W, 1)
    labels = layout.partition(labels + 1) - 1  # zero padding -> label -1
    labels = labels.view(batch * layout.num_windows, layout.window_tokens)
    allowed = labels.unsqueeze(-1) == labels.unsqueeze(-2)
    # a padded query may attend anything (its output is cropped away), but no
    # real query may attend a padded key
    is_pad = labels < 0
    allowed = (allowed & ~is_pad.unsqueeze(-2)) | is_pad.unsqueeze(-1)
    return allowed.unsqueeze(1)


def _group_layout(hw: Size, groups: Tensor) -> Optional[GroupLayout]:
    B = groups.shape[0]
    flat = groups.reshape(B, -1).to(torch.int8)
    counts = flat.sum(1)
    if not bool((counts == counts[0]).all()):
        return None
    N = flat.shape[1]
    n1 = int(counts[0])
    order = torch.argsort(flat, dim=1, stable=True)
    distinct, mask_index = torch.unique(flat, dim=0, return_inverse=True)
    distinct_order = torch.argsort(distinct, dim=1, stable=True)
    spans = [(s, e) for s, e in ((0, N - n1), (N - n1, N)) if e > s]
    rel_index = []
    for s, e in spans:
        idx = distinct_order[:, s:e]
        rel_index.append(idx.unsqueeze(-1) * N + idx.unsqueeze(-2))
    identity = torch.arange(B, device=mask_index.device)
    if distinct.shape[0] == 1 or torch.equal(mask_index, identity):
        mask_index = None  # the bias broadcasts, or is already per sample
    return GroupLayout(B, hw, order, spans, rel_index, mask_index)
