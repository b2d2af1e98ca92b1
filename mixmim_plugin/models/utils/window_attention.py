"""Multi-head self-attention with a learned relative position bias, run on a
token layout (:mod:`.token_layout`).

Attention goes through ``torch.nn.functional.scaled_dot_product_attention``
with the bias as an additive mask: on CUDA its memory-efficient kernel fuses
the bias and returns its gradient; on CPU in fp32 its math/flash kernels are
as fast as anything written here. One case is done by hand
(:func:`attention`): CPU training in bf16/fp16. There SDPA's math fallback
(the CPU flash kernel takes no mask that needs a gradient) upcasts q, k, v and
the mask to fp32 and adds a safe-softmax pass, and the CPU flash kernel itself
is slow in bf16 for short sequences. Measured on the 2-core CPU, forward +
backward, bf16: 64 windows x 4 heads x 196 tokens with bias, SDPA 159 ms vs
59 ms by hand; 8 x 16 heads x 49 tokens without mask (the decoder), SDPA
flash 14.1 ms vs 2.1 ms by hand.

Masking uses ``-inf`` (a boolean mask folded into the additive bias), never a
large finite constant, so it is exact in fp32, bf16 and fp16: every query
keeps at least itself, so no softmax row is empty.
"""
from functools import lru_cache
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from mmengine.model.weight_init import trunc_normal_
from torch import Tensor, nn

from .token_layout import GroupLayout, Layout, WindowLayout

Size = Tuple[int, int]


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


def attention(q: Tensor,
              k: Tensor,
              v: Tensor,
              attn_mask: Optional[Tensor] = None,
              dropout_p: float = 0.,
              **kwargs) -> Tensor:
    """``softmax(q k^T / sqrt(d) + attn_mask) v``, a drop-in for
    ``F.scaled_dot_product_attention`` (see the module docstring for when it
    does not call it).

    Args:
        q, k, v: (..., N, d).
        attn_mask: additive mask broadcastable to (..., N, N) in q's dtype,
            ``-inf`` where attention is not allowed; or None.
        dropout_p: attention dropout.
        kwargs: other SDPA arguments (``scale``, ``is_causal``); they force
            the SDPA path.
    """
    if kwargs:
        return F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=dropout_p, **kwargs)
    return masked_attention(q, k, v, attn_mask, None, dropout_p)


def masked_attention(q: Tensor,
                     k: Tensor,
                     v: Tensor,
                     bias: Optional[Tensor],
                     allowed: Optional[Tensor],
                     dropout_p: float = 0.) -> Tensor:
    """``softmax(q k^T / sqrt(d) + bias, -inf where not allowed) v``.

    Args:
        q, k, v: (..., N, d).
        bias: additive, broadcastable to (..., N, N); or None.
        allowed: bool, broadcastable to (..., N, N), True where a query may
            attend a key; or None. By hand it is filled into the scores in
            place; for SDPA it is folded into the bias.
        dropout_p: attention dropout.
    """
    if (q.device.type == 'cpu' and q.dtype != torch.float32
            and torch.is_grad_enabled()):
        with torch.autocast('cpu', enabled=False):
            attn = torch.matmul(q * q.shape[-1]**-0.5, k.transpose(-2, -1))
            if bias is not None:
                attn = attn + bias
            if allowed is not None:
                attn = attn.masked_fill_(~allowed, float('-inf'))
            attn = attn.softmax(dim=-1)
            if dropout_p:
                attn = F.dropout(attn, dropout_p)
            return torch.matmul(attn, v)
    if allowed is not None:
        if bias is None:
            bias = torch.zeros((), dtype=q.dtype, device=q.device)
        bias = bias.masked_fill(~allowed, float('-inf'))
    return F.scaled_dot_product_attention(
        q, k, v, attn_mask=bias, dropout_p=dropout_p)


class WindowMSA(nn.Module):
    """Self-attention within windows or token groups, with relative position
    bias.

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

    def init_weights(self) -> None:
        trunc_normal_(self.relative_position_bias_table, std=.02)

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
            side = int(round(table.shape[0]**.5))
            grid = table.T.reshape(1, -1, side, side).float()
            size = (2 * self.window[0] - 1, 2 * self.window[1] - 1)
            grid = F.interpolate(
                grid, size=size, mode='bicubic', align_corners=False)
            state_dict[key] = grid.reshape(own.shape[1], -1).T.to(table.dtype)
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
        grid = table.T.reshape(1, self.num_heads, 2 * th - 1, 2 * tw - 1)
        grid = F.interpolate(
            grid.float(),
            size=(2 * size[0] - 1, 2 * size[1] - 1),
            mode='bicubic',
            align_corners=False)
        return grid.to(table.dtype).reshape(self.num_heads, -1).T, size

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
        index = relative_position_index(tuple(window),
                                        table_window).to(table.device)
        if pairs is not None:
            index = index.view(-1)[pairs]
        flat = torch.index_select(table, 0, index.reshape(-1))
        return flat.view(*index.shape, self.num_heads)

    def forward(self, x: Tensor, layout: Layout) -> Tensor:
        """(B, L, C) stage tokens in ``layout`` order -> (B, L, C)."""
        B, L, C = x.shape
        qkv = self.qkv(x)
        if isinstance(layout, GroupLayout):
            out = self._group_attention(qkv, layout)
        else:
            out = self._window_attention(qkv, layout)
        return self.proj_drop(self.proj(out))

    def _attend(self,
                q: Tensor,
                k: Tensor,
                v: Tensor,
                bias: Tensor,
                allowed: Optional[Tensor] = None) -> Tensor:
        drop = self.attn_drop if self.training else 0.
        return masked_attention(q, k, v, bias, allowed, drop)

    def _window_attention(self, qkv: Tensor, layout: WindowLayout) -> Tensor:
        qkv = layout.windows(qkv)  # B*nW, N, 3C
        N = layout.window_tokens
        qkv = qkv.view(-1, N, 3, self.num_heads, self.head_dims)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # B*nW, heads, N, d
        bias = self.window_bias(layout.window).unsqueeze(0).to(q.dtype)
        out = self._attend(q, k, v, bias, layout.allowed)
        out = out.transpose(1, 2).reshape(-1, N, self.embed_dims)
        return layout.unwindows(out)

    def _group_attention(self, qkv: Tensor, layout: GroupLayout) -> Tensor:
        B, L, _ = qkv.shape
        qkv = qkv.view(B, L, 3, self.num_heads, self.head_dims)
        qkv = qkv.permute(2, 0, 3, 1, 4)  # 3, B, heads, L, d
        outs = []
        for (start, end), pairs in zip(layout.spans, layout.rel_index):
            q, k, v = qkv[:, :, :, start:end].unbind(0)
            bias = self.gathered_bias(pairs, layout.window).to(q.dtype)
            if layout.mask_index is not None:
                bias = torch.index_select(bias, 0, layout.mask_index)
            outs.append(self._attend(q, k, v, bias))
        out = torch.cat(outs, dim=2)  # B, heads, L, d
        return out.transpose(1, 2).reshape(B, L, self.embed_dims)
