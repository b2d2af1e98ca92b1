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
  mask is used. Under ``torch.compile`` the window layout with a mask is
  used too: the group sizes are data (counts of the mix mask), so the
  grouped path would cost a graph break and a recompile per mask ratio,
  while the masked path is one static graph with the same result.

Both layouts take part in attention through one method, ``attend(qkv,
num_heads, bias, kernel)``: the layout cuts the projected ``qkv`` into its
attention units (windows, or source groups), asks ``bias`` for the relative
position bias of those units and ``kernel`` for the attention itself, and
returns the output in the stage's token order. The attention module
(:class:`~.window_attention.LayoutMSA`) only projects and owns the bias
table.
"""
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from .masks import Size, same_source_pairs

# bias(window, pairs=None): (heads, N, N) bias of a whole window, or with
# ``pairs`` ((U, n, n) raster pair indices i * N + j) (U, heads, n, n)
RelativeBias = Callable[..., Tensor]
# kernel(q, k, v, bias, allowed) -> out, all (..., N, d) / (..., N, N)
Kernel = Callable[[Tensor, Tensor, Tensor, Optional[Tensor], Optional[Tensor]],
                  Tensor]


def split_heads(qkv: Tensor, num_heads: int) -> Tuple[Tensor, Tensor, Tensor]:
    """(..., N, 3C) -> q, k, v each (..., heads, N, C / heads)."""
    *lead, N, C3 = qkv.shape
    qkv = qkv.view(-1, N, 3, num_heads, C3 // (3 * num_heads))
    q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
    return tuple(t.reshape(*lead, num_heads, N, -1) for t in (q, k, v))


def merge_heads(x: Tensor) -> Tensor:
    """(..., heads, N, d) -> (..., N, heads * d)."""
    return x.transpose(-3, -2).flatten(-2)


def partition(x: Tensor, hw: Size, padded_hw: Size, window: Size) -> Tensor:
    """(B, H * W, C) raster -> (B, nW * N, C) zero-padded windows."""
    B, C = x.shape[0], x.shape[-1]
    (H, W), (Hp, Wp), (wh, ww) = hw, padded_hw, window
    x = x.view(B, H, W, C)
    if (Hp, Wp) != (H, W):
        x = F.pad(x, (0, 0, 0, Wp - W, 0, Hp - H))
    if (wh, ww) == (Hp, Wp):
        return x.reshape(B, Hp * Wp, C)
    x = x.view(B, Hp // wh, wh, Wp // ww, ww, C).transpose(2, 3)
    return x.reshape(B, Hp * Wp, C)


def merge(x: Tensor, hw: Size, padded_hw: Size, window: Size) -> Tensor:
    """Inverse of :func:`partition` (the padding is cropped)."""
    B, C = x.shape[0], x.shape[-1]
    (H, W), (Hp, Wp), (wh, ww) = hw, padded_hw, window
    if (wh, ww) != (Hp, Wp):
        x = x.view(B, Hp // wh, Wp // ww, wh, ww, C).transpose(2, 3)
    x = x.reshape(B, Hp, Wp, C)
    if (Hp, Wp) != (H, W):
        x = x[:, :H, :W]
    return x.reshape(B, H * W, C)


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
        return partition(x, self.hw, self.padded_hw, self.window)

    def merge(self, x: Tensor) -> Tensor:
        """Inverse of :meth:`partition` (the padding is cropped)."""
        return merge(x, self.hw, self.padded_hw, self.window)

    def attend(self, qkv: Tensor, num_heads: int, bias: RelativeBias,
               kernel: Kernel) -> Tensor:
        """(B, L, 3C) projected stage tokens -> (B, L, C): attention within
        each window, with the window's bias and the allowed pairs."""
        q, k, v = split_heads(self.windows(qkv), num_heads)
        out = kernel(q, k, v,
                     bias(self.window).unsqueeze(0).to(q.dtype), self.allowed)
        return self.unwindows(merge_heads(out))


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

    def enter(self, x: Tensor) -> Tensor:
        index = self.order.unsqueeze(-1).expand(-1, -1, x.shape[-1])
        return torch.gather(x, 1, index)

    def exit(self, x: Tensor) -> Tensor:
        index = self.order.unsqueeze(-1).expand(-1, -1, x.shape[-1])
        return torch.empty_like(x).scatter_(1, index, x)

    def attend(self, qkv: Tensor, num_heads: int, bias: RelativeBias,
               kernel: Kernel) -> Tensor:
        """(B, L, 3C) projected sorted tokens -> (B, L, C): one dense,
        unmasked attention per source span."""
        q, k, v = split_heads(qkv, num_heads)  # B, heads, L, d
        outs = []
        for (start, end), pairs in zip(self.spans, self.rel_index):
            span_bias = bias(self.hw, pairs).to(q.dtype)
            if self.mask_index is not None:
                span_bias = torch.index_select(span_bias, 0, self.mask_index)
            outs.append(
                kernel(q[:, :, start:end], k[:, :, start:end],
                       v[:, :, start:end], span_bias, None))
        return merge_heads(torch.cat(outs, dim=2))


Layout = Union[WindowLayout, GroupLayout]


def resolve_window(hw: Size, window: Optional[int]) -> Size:
    """The window used on an (H, W) map: ``None`` means global attention, and
    a window at least as large as the map side is clipped to it (the authors'
    rule: stages 3 and 4 at 224 are global)."""
    H, W = hw
    if window is None:
        return H, W
    return min(window, H), min(window, W)


def check_stage_windows(size: Tuple[int, int], strides: Sequence[int],
                        windows: Sequence[int]) -> None:
    """Raise ValueError naming the sizes when an (H, W) input does not give
    every stage a map that its window tiles (a window at least as large as
    the map means global attention and always fits)."""
    if len(strides) != len(windows):
        raise ValueError(f'{len(strides)} encoder strides but '
                         f'{len(windows)} window sizes')
    H, W = size
    for stage, (stride, window) in enumerate(zip(strides, windows)):
        if H % stride or W % stride:
            raise ValueError(
                f'input {H}x{W} is not a multiple of stage {stage + 1}\'s '
                f'stride {stride}')
        h, w = H // stride, W // stride
        for side in (h, w):
            if window < side and side % window:
                raise ValueError(
                    f'input {H}x{W}: stage {stage + 1} has a {h}x{w} token '
                    f'map, which window {window} does not tile')


def build_layout(hw: Size,
                 batch: int,
                 window: Optional[int],
                 groups: Optional[Tensor] = None,
                 grouped: bool = True) -> Layout:
    """Choose the token layout of a stage.

    Args:
        hw: (H, W) of the stage's feature map.
        batch: number of images B.
        window: window side, or None for global attention.
        groups: ``(B, H, W)`` bool, True where a token comes from the partner
            image (MixMIM's mix mask at this resolution); None when not mixing.
        grouped: use :class:`GroupLayout` where it applies (False forces the
            masked window layout: the same result, for checking).
    """
    H, W = hw
    wh, ww = resolve_window(hw, window)
    Hp, Wp = -(-H // wh) * wh, -(-W // ww) * ww
    is_global = (wh, ww) == (H, W)
    if (groups is not None and is_global and grouped
            and not torch.compiler.is_compiling()):
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
    labels = torch.zeros((batch, H * W, 1),
                         dtype=torch.long,
                         device=None if groups is None else groups.device)
    if groups is not None:
        labels = groups.to(torch.long).reshape(batch, H * W, 1)
    # shifted by one so that the zero padding becomes label -1
    labels = partition(labels + 1, hw, padded_hw, window) - 1
    labels = labels.view(-1, window[0] * window[1])
    return same_source_pairs(labels, attend_padding=False)


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
