"""Multi-head self-attention with a learned relative position bias, run on a
token layout (:mod:`.token_layout`).

:class:`LayoutMSA` projects and owns the bias table; the layout cuts the
tokens into attention units and :func:`~.attention.attend` computes the
attention under the module's ``attn_backend`` policy.
"""
from functools import lru_cache, partial
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from mmengine.model.weight_init import trunc_normal_
from torch import Tensor, nn

from .attention import attend, default_backend
from .masks import Size
from .token_layout import Layout


@lru_cache(maxsize=32)
def relative_position_index(window: Size,
                            table_window: Optional[Size] = None) -> Tensor:
    """(N, N) index of each token pair's offset in a bias table (N = wh*ww).

    The table covers the offsets of ``table_window`` (default: ``window``):
    ``(2th - 1) * (2tw - 1)`` entries, Swin's convention
    ``(dy + th - 1) * (2tw - 1) + (dx + tw - 1)``. ``window`` must fit in it.
    """
    wh, ww = window
    th, tw = table_window or window
    if wh > th or ww > tw:
        raise ValueError(f'window {window} exceeds the table window '
                         f'{table_window}')
    coords = torch.stack(
        torch.meshgrid(torch.arange(wh), torch.arange(ww), indexing='ij'))
    coords = coords.flatten(1)  # 2, N
    rel = coords[:, :, None] - coords[:, None, :]  # 2, N, N
    return (rel[0] + th - 1) * (2 * tw - 1) + (rel[1] + tw - 1)


def resize_bias_table(table: Tensor, window: Size, size: Size) -> Tensor:
    """Bicubic resize of a ``(T, heads)`` table learned for ``window`` to
    the offsets of ``size``: ``((2sh - 1) * (2sw - 1), heads)``."""
    heads = table.shape[1]
    grid = table.T.reshape(1, heads, 2 * window[0] - 1, 2 * window[1] - 1)
    grid = F.interpolate(
        grid.float(),
        size=(2 * size[0] - 1, 2 * size[1] - 1),
        mode='bicubic',
        align_corners=False)
    return grid.to(table.dtype).reshape(heads, -1).T


class LayoutMSA(nn.Module):
    """Self-attention within the windows or token groups of a layout, with
    relative position bias.

    Args:
        embed_dims: C.
        num_heads: number of heads; C must divide by it.
        window: the window the bias table is learned for.
        qkv_bias: bias in the qkv projection.
        attn_drop: attention dropout probability.
        proj_drop: dropout after the output projection.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 window: Size,
                 qkv_bias: bool = True,
                 attn_drop: float = 0.,
                 proj_drop: float = 0.) -> None:
        super().__init__()
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims {embed_dims} is not divisible by '
                             f'num_heads {num_heads}')
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.head_dims = embed_dims // num_heads
        self.window = tuple(window)
        wh, ww = self.window
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * wh - 1) * (2 * ww - 1), num_heads))
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=qkv_bias)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop)
        self.attn_backend = default_backend()

    def init_weights(self) -> None:
        trunc_normal_(self.relative_position_bias_table, std=.02)

    def extra_repr(self) -> str:
        return f'window={self.window}, attn_backend={self.attn_backend!r}'

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Drop mmpretrain's recomputable ``relative_position_index`` and
        resize (bicubic) a bias table learned for another window, e.g.
        224-pretrained windows 14-14-14-7 fine-tuned at 384 with 16-16-24-12.
        """
        state_dict.pop(prefix + 'relative_position_index', None)
        key = prefix + 'relative_position_bias_table'
        table = state_dict.get(key)
        own = self.relative_position_bias_table
        if table is not None and table.shape != own.shape:
            if table.shape[1] != own.shape[1]:
                raise ValueError(f'{key}: checkpoint has {table.shape[1]} '
                                 f'heads, the model {own.shape[1]}')
            side = (int(round(table.shape[0]**.5)) + 1) // 2
            state_dict[key] = resize_bias_table(table, (side, side),
                                                self.window)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def bias_table(self, window: Size) -> Tuple[Tensor, Size]:
        """The ``(T, heads)`` bias table covering ``window``'s offsets, and
        the window it is laid out for.

        A window no larger than the learned one (a global stage on a small
        map) uses the learned table as it is; a larger one (a global block on
        a detection map) gets the learned table resized bicubically.
        """
        table = self.relative_position_bias_table
        (wh, ww), (th, tw) = window, self.window
        if wh <= th and ww <= tw:
            return table, self.window
        size = (max(wh, th), max(ww, tw))
        return resize_bias_table(table, self.window, size), size

    def window_bias(self, window: Size) -> Tensor:
        """(heads, N, N) bias of a whole window."""
        return self._gather(window).permute(2, 0, 1)

    def gathered_bias(self, pairs: Tensor, window: Size) -> Tensor:
        """Bias for token subsets: ``pairs`` is ``(U, n, n)`` raster pair
        indices ``i * N + j`` of the window; returns ``(U, heads, n, n)``."""
        return self._gather(window, pairs).permute(0, 3, 1, 2)

    def _gather(self, window: Size, pairs: Optional[Tensor] = None) -> Tensor:
        """Bias of every token pair of ``window`` (``(N, N, heads)``), or of
        the ``pairs`` (``(U, n, n)`` raster pair indices) only.

        ``index_select`` rather than advanced indexing: its backward is an
        ``index_add``, 17-40x faster on CPU than the ``index_put_``
        (accumulate) behind ``table[index]``.
        """
        table, table_window = self.bias_table(tuple(window))
        # under torch.compile the uncached function: traced, then folded
        index_of = relative_position_index.__wrapped__ if (
            torch.compiler.is_compiling()) else relative_position_index
        index = index_of(tuple(window), table_window).to(table.device)
        if pairs is not None:
            index = index.view(-1)[pairs]
        flat = torch.index_select(table, 0, index.reshape(-1))
        return flat.view(*index.shape, self.num_heads)

    def bias(self, window: Size, pairs: Optional[Tensor] = None) -> Tensor:
        """The layouts' :data:`~.token_layout.RelativeBias`: (heads, N, N)
        for a whole window, (U, heads, n, n) for ``pairs``."""
        if pairs is None:
            return self.window_bias(window)
        return self.gathered_bias(pairs, window)

    def forward(self, x: Tensor, layout: Layout) -> Tensor:
        """(B, L, C) stage tokens in ``layout`` order -> (B, L, C)."""
        drop = self.attn_drop if self.training else 0.
        kernel = partial(attend, dropout_p=drop, policy=self.attn_backend)
        out = layout.attend(self.qkv(x), self.num_heads, self.bias, kernel)
        return self.proj_drop(self.proj(out))
