"""Token layouts and the masked window attention of the MixMIM encoder."""
import pytest
import torch
import torch.nn.functional as F

from mixmim_plugin.models.utils import (GroupLayout, LayoutMSA, WindowLayout,
                                        attend, build_layout)


def _groups(B, H, W, unit, seed=0, count=None):
    """(B, H, W) bool mask made of unit x unit blocks, ``count`` True units
    per sample (random per sample)."""
    g = torch.Generator().manual_seed(seed)
    h, w = H // unit, W // unit
    count = (h * w) // 2 if count is None else count
    masks = torch.zeros(B, h * w, dtype=torch.bool)
    for b in range(B):
        masks[b, torch.randperm(h * w, generator=g)[:count]] = True
    masks = masks.view(B, h, w)
    return masks.repeat_interleave(unit, 1).repeat_interleave(unit, 2)


@pytest.mark.parametrize('hw,window', [((8, 8), 4), ((8, 8), 8), ((6, 10), 4),
                                       ((5, 7), 3), ((4, 4), 14)])
def test_window_layout_round_trip(hw, window):
    x = torch.randn(2, hw[0] * hw[1], 5)
    layout = build_layout(hw, 2, window)
    assert isinstance(layout, WindowLayout)
    tokens = layout.enter(x)
    # a padded map keeps raster tokens; padding exists only in the windows
    assert layout.padded == (
        tokens.shape[1] == x.shape[1]
        and layout.num_windows * layout.window_tokens != x.shape[1])
    windows = layout.windows(tokens)
    assert windows.shape == (2 * layout.num_windows, layout.window_tokens, 5)
    back = layout.exit(layout.unwindows(windows))
    torch.testing.assert_close(back, x, rtol=0, atol=0)


def test_window_layout_orders_tokens_by_window():
    H, W = 4, 4
    x = torch.arange(H * W, dtype=torch.float).view(1, H * W, 1)
    tokens = build_layout((H, W), 1, 2).enter(x).view(4, 4)
    assert tokens[0].tolist() == [0, 1, 4, 5]  # top-left 2x2 window
    assert tokens[1].tolist() == [2, 3, 6, 7]


def test_group_layout_sorts_by_source_and_round_trips():
    groups = _groups(3, 8, 8, 4)
    x = torch.randn(3, 64, 6)
    layout = build_layout((8, 8), 3, 8, groups)
    assert isinstance(layout, GroupLayout)
    assert layout.spans == [(0, 32), (32, 64)]
    tokens = layout.enter(x)
    flat = groups.view(3, 64)
    for b in range(3):
        order = layout.order[b]
        assert not flat[b, order[:32]].any() and flat[b, order[32:]].all()
    torch.testing.assert_close(layout.exit(tokens), x, rtol=0, atol=0)


def test_group_layout_shares_bias_between_equal_masks():
    groups = _groups(2, 8, 8, 4)
    paired = torch.stack([groups[0], groups[1], groups[1], groups[0]])
    layout = build_layout((8, 8), 4, 8, paired)
    assert layout.rel_index[0].shape[0] == 2  # two distinct masks
    assert layout.mask_index.tolist() in ([0, 1, 1, 0], [1, 0, 0, 1])
    one_mask = build_layout((8, 8), 4, 8, groups[:1].expand(4, 8, 8))
    assert one_mask.rel_index[0].shape[0] == 1 and one_mask.mask_index is None


def test_unequal_counts_fall_back_to_masked_windows():
    groups = _groups(2, 8, 8, 4, count=1)
    groups[1] = _groups(1, 8, 8, 4, count=2)[0]
    layout = build_layout((8, 8), 2, 8, groups)
    assert isinstance(layout, WindowLayout) and layout.allowed is not None


def _attn_module(C=32, heads=2, window=(8, 8)):
    torch.manual_seed(0)
    module = LayoutMSA(C, heads, window)
    module.init_weights()
    module.relative_position_bias_table.data.normal_(std=1.0)
    return module


@pytest.mark.parametrize('grouped', [True, False])
@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16])
def test_tokens_never_see_the_other_image(grouped, dtype):
    """Changing the partner's tokens leaves the own tokens' outputs exactly
    unchanged (global window), in fp32 and under bf16 autocast, through the
    fast grouped path and the masked path."""
    module = _attn_module()
    groups = _groups(2, 8, 8, 4)
    x = torch.randn(2, 64, 32)
    y = x.clone()
    y[groups.view(2, 64)] += torch.randn_like(y[groups.view(2, 64)]) * 5
    layout = build_layout((8, 8), 2, 8, groups, grouped=grouped)
    assert isinstance(layout, GroupLayout) == grouped
    with torch.autocast(
            'cpu', dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
        out_x = layout.exit(module(layout.enter(x), layout))
        out_y = layout.exit(module(layout.enter(y), layout))
    own = ~groups.view(2, 64)
    assert torch.equal(out_x[own], out_y[own])
    assert not torch.allclose(out_x[~own], out_y[~own])


def test_without_mask_tokens_do_see_the_other_image():
    module = _attn_module()
    groups = _groups(2, 8, 8, 4)
    x = torch.randn(2, 64, 32)
    y = x.clone()
    y[groups.view(2, 64)] += 5
    layout = build_layout((8, 8), 2, 8)
    own = ~groups.view(2, 64)
    out_x = layout.exit(module(layout.enter(x), layout))
    out_y = layout.exit(module(layout.enter(y), layout))
    assert not torch.allclose(out_x[own], out_y[own])


def test_grouped_path_equals_masked_path_with_gradients():
    module = _attn_module()
    groups = _groups(2, 8, 8, 4)
    results = []
    for prefer in (True, False):
        module.zero_grad()
        x = torch.randn(2, 64, 32, generator=torch.Generator().manual_seed(1))
        x.requires_grad_(True)
        layout = build_layout((8, 8), 2, 8, groups, grouped=prefer)
        out = layout.exit(module(layout.enter(x), layout))
        out.pow(2).sum().backward()
        results.append((out.detach(), x.grad,
                        module.relative_position_bias_table.grad.clone()))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def _naive_window_attention(module, x, hw, window, groups=None):
    """Reference: loop over windows and queries, attend only to real keys of
    the same source image, relative bias looked up per pair."""
    B, L, C = x.shape
    H, W = hw
    heads, d = module.num_heads, module.head_dims
    qkv = module.qkv(x).view(B, H, W, 3, heads, d)
    table = module.relative_position_bias_table
    out = torch.zeros(B, H, W, heads, d)
    wh, ww = window
    th, tw = module.window  # the learned table's layout
    for b in range(B):
        for i in range(H):
            for j in range(W):
                r0, c0 = i // wh * wh, j // ww * ww
                keys = [(r, c) for r in range(r0, min(r0 + wh, H))
                        for c in range(c0, min(c0 + ww, W))
                        if groups is None or groups[b, r, c] == groups[b, i, j]
                        ]
                q = qkv[b, i, j, 0]
                k = torch.stack([qkv[b, r, c, 1] for r, c in keys])
                v = torch.stack([qkv[b, r, c, 2] for r, c in keys])
                bias = torch.stack([
                    table[(i - r + th - 1) * (2 * tw - 1) + (j - c + tw - 1)]
                    for r, c in keys
                ])  # n, heads
                s = torch.einsum('hd,nhd->hn', q * d**-0.5, k) + bias.T
                out[b, i, j] = torch.einsum('hn,nhd->hd', s.softmax(-1), v)
    return module.proj(out.view(B, L, C))


@pytest.mark.parametrize('hw,window,mixed', [((6, 6), 4, False),
                                             ((8, 8), 4, True),
                                             ((4, 8), 8, True)])
def test_window_attention_matches_naive_reference(hw, window, mixed):
    """Windows, padding (6x6 with 4x4 windows) and source masking agree with
    a per-query loop."""
    module = _attn_module(C=16, heads=2, window=(window, window))
    x = torch.randn(2, hw[0] * hw[1], 16)
    groups = _groups(2, hw[0], hw[1], 2) if mixed else None
    layout = build_layout(hw, 2, window, groups, grouped=False)
    with torch.no_grad():
        out = layout.exit(module(layout.enter(x), layout))
        ref = _naive_window_attention(module, x, hw, layout.window, groups)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)


def test_bias_table_is_resized_for_other_windows():
    module = _attn_module(C=16, heads=2, window=(4, 4))
    table = module.relative_position_bias_table
    assert module.bias_table((4, 4)) == (table, (4, 4))
    assert module.bias_table((2, 3)) == (table, (4, 4))  # offsets fit
    resized, layout = module.bias_table((6, 6))
    assert resized.shape == (11 * 11, 2) and layout == (6, 6)
    assert module.window_bias((6, 6)).shape == (2, 36, 36)
    # the resized table agrees with the learned one at offset (0, 0)
    torch.testing.assert_close(resized[5 * 11 + 5], table[3 * 7 + 3])


@pytest.mark.parametrize('mask', [False, True])
def test_cpu_low_precision_attention_matches_sdpa(mask):
    """The hand-written CPU bf16 training path computes what SDPA computes."""
    torch.manual_seed(0)
    q, k, v = (torch.randn(3, 2, 10, 8) for _ in range(3))
    bias = torch.randn(1, 2, 10, 10)
    if mask:
        bias[..., 3:] = float('-inf')
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    args = [t.bfloat16().requires_grad_() for t in (q, k, v)]
    out = attend(*args, bias.bfloat16().requires_grad_())
    assert out.dtype == torch.bfloat16 and out.requires_grad
    torch.testing.assert_close(out.float(), ref, rtol=0.05, atol=0.05)
    out.float().sum().backward()
    assert all(torch.isfinite(a.grad).all() for a in args)
