"""DropPos's model pieces: position smoothing, loss, attentive weights, the
ViT and hierarchical encoders, the algorithm and its multi-task variant."""
import math

import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope
from mmpretrain.structures import DataSample

from mixmim_plugin.datasets import DropPositionMask
from mixmim_plugin.models import (DropPos, DropPosHead, attentive_weights,
                                  position_smoothing)
from mixmim_plugin.models.backbones.droppos_hierarchical import (draw_origin,
                                                                 shuffle_units)
from mixmim_plugin.models.utils.masks import split_masks, upsample_mask
from mixmim_plugin.registry import MODELS

# ------------------------------------------------------------- smoothing
# Hand computation on a 4x4 grid: the weights are separable,
# w((r, c), (r', c')) = a(r - r') a(c - c') / (S_r S_c), a(d) = exp(-d^2 /
# sigma^2), with S the sum of a over the 4 coordinates. Corner coordinate 0:
# S = a(0) + a(1) + a(2) + a(3); interior coordinate 1: a(1) + a(0) + a(1) +
# a(2). E.g. sigma 1: S_corner = 1 + e^-1 + e^-4 + e^-9 = 1.3863185, so
# w(0, 0) = 1 / 1.3863185^2 = 0.5203241.
HAND = {
    # sigma: {(i, j): w(i, j)} with raster indices on the 4x4 grid
    1.0: {
        (0, 0): 0.5203241324,
        (0, 1): 0.1914165511,
        (0, 5): 0.0704182138,
        (0, 15): 7.924526e-09,
        (5, 5): 0.3250153851,
        (5, 0): 0.0439860492,
        (5, 15): 0.0001090305,
        (3, 7): 0.1914165511,
    },
    2.0: {
        (0, 0): 0.1971662539,
        (0, 1): 0.1535532329,
        (0, 5): 0.1195873780,
        (0, 15): 0.0021903192,
        (5, 5): 0.1168437358,
        (5, 0): 0.0708693082,
        (5, 15): 0.0158130801,
        (3, 7): 0.1535532329,
    },
}


@pytest.mark.parametrize('sigma', sorted(HAND))
def test_smoothing_matches_hand_values(sigma):
    weights = position_smoothing((4, 4), sigma)
    for (i, j), value in HAND[sigma].items():
        assert weights[i, j].item() == pytest.approx(value, rel=1e-5), (i, j)


@pytest.mark.parametrize('grid', [(4, 4), (3, 5), (14, 14)])
@pytest.mark.parametrize('sigma', [0.3, 1.0, 3.0])
def test_smoothing_rows_sum_to_one_and_peak_on_the_diagonal(grid, sigma):
    weights = position_smoothing(grid, sigma)
    n = grid[0] * grid[1]
    assert weights.shape == (n, n)
    torch.testing.assert_close(weights.sum(1), torch.ones(n))
    assert (weights.argmax(1) == torch.arange(n)).all()
    # neighbours follow the true grid: the token right below a top-right
    # corner (raster n_cols away) weighs as much as its left neighbour
    w = grid[1]
    assert weights[w - 1, 2 * w - 1] == pytest.approx(weights[w - 1, w - 2])


def test_sigma_zero_is_one_hot():
    torch.testing.assert_close(position_smoothing((3, 5), 0.), torch.eye(15))
    torch.testing.assert_close(
        position_smoothing((3, 5), 1e-200), torch.eye(15))


@pytest.mark.parametrize('sigma', [-1.0, float('nan'), float('inf')])
def test_bad_sigma_is_rejected(sigma):
    with pytest.raises(ValueError, match=f'sigma must be .*got {sigma}'):
        position_smoothing((4, 4), sigma)
    head = DropPosHead(grid=4, sigma=0.)
    with pytest.raises(ValueError, match=f'got {sigma}'):
        head.sigma = sigma


# ------------------------------------------------------------------ loss
def _batch(num_positions=16, visible=6, batch=3, seed=0):
    """Random distinct positions per sample; the first 2 keep theirs."""
    gen = torch.Generator().manual_seed(seed)
    positions = torch.stack([
        torch.randperm(num_positions, generator=gen)[:visible]
        for _ in range(batch)
    ])
    counted = torch.ones(batch, visible, dtype=torch.bool)
    counted[:, :2] = False
    return positions, counted


def test_uniform_logits_give_log_n_under_sigma_zero():
    head = DropPosHead(grid=4, sigma=0., attentive=False)
    positions, counted = _batch()
    out = head.loss(torch.zeros(3, 6, 16), positions, counted)
    assert out['loss_pos'].item() == pytest.approx(math.log(16), rel=1e-6)


def test_perfect_logits_reach_the_minimum():
    positions, counted = _batch()
    head = DropPosHead(grid=4, sigma=0., attentive=False)
    perfect = 100. * torch.nn.functional.one_hot(positions, 16).float()
    out = head.loss(perfect, positions, counted)
    assert out['loss_pos'].item() < 1e-6
    assert out['acc_pos'].item() == 1.0
    # with smoothing the minimum is the targets' entropy, reached at
    # logits = log(target); any other logits do worse
    head.sigma = 1.0
    target = position_smoothing((4, 4), 1.0)[positions]
    entropy = -(target * target.log()).sum(-1)[counted].mean()
    best = head.loss(target.log(), positions, counted)['loss_pos']
    assert best.item() == pytest.approx(entropy.item(), rel=1e-5)
    for seed in range(3):
        noise = torch.randn(
            target.shape, generator=torch.Generator().manual_seed(seed))
        worse = head.loss(target.log() + noise, positions, counted)
        assert worse['loss_pos'] > best
    assert head.loss(perfect, positions, counted)['loss_pos'] > best


def test_loss_counts_only_dropped_tokens():
    head = DropPosHead(grid=4, sigma=0., attentive=False)
    positions, counted = _batch()
    logits = torch.randn(3, 6, 16)
    base = head.loss(logits, positions, counted)
    logits[:, :2] = torch.randn(3, 2, 16) * 10  # tokens that keep position
    again = head.loss(logits, positions, counted)
    torch.testing.assert_close(base['loss_pos'], again['loss_pos'])
    torch.testing.assert_close(base['acc_pos'], again['acc_pos'])


def test_attentive_weights_are_a_distribution_over_visible_tokens():
    positions, _ = _batch()
    similarity = torch.rand(3, 16) * 2 - 1
    weights = attentive_weights(similarity, positions, tau=0.1)
    assert (weights > 0).all()
    torch.testing.assert_close(weights.sum(1), torch.ones(3))
    # the softmax over all patches, gathered and renormalised
    soft = torch.softmax(similarity / 0.1, dim=-1).gather(1, positions)
    torch.testing.assert_close(weights, soft / soft.sum(1, keepdim=True))
    # more similar to [CLS] -> more weight
    order = similarity[0, positions[0, 2]] > similarity[0, positions[0, 3]]
    assert (weights[0, 2] > weights[0, 3]) == order


def test_default_loss_is_one_ratio_pooled_over_the_batch():
    """The authors' attentive loss, computed here token by token in
    float64: w = softmax(sim / tau) gathered to the visible tokens and
    renormalised over them; loss = sum(w * CE) / sum(w) over every counted
    token of every image."""
    positions, counted = _batch()
    counted[0, 2:5] = False  # unequal counts per image
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(3, 6, 16, generator=gen)
    similarity = torch.rand(3, 16, generator=gen) * 2 - 1
    sigma, tau = 0.7, 0.1
    head = DropPosHead(grid=4, sigma=sigma, attentive=True, tau=tau)
    assert head.normalization == 'batch'
    out = head.loss(logits, positions, counted, similarity)

    def target(i):  # smoothed one-hot of position i on the 4x4 grid
        yi, xi = divmod(i, 4)
        row = [
            math.exp(-((yi - j // 4)**2 + (xi - j % 4)**2) / sigma**2)
            for j in range(16)
        ]
        return [v / sum(row) for v in row]

    num = den = 0.
    for b in range(3):
        visible = positions[b].tolist()
        exp = [math.exp(similarity[b, p].item() / tau) for p in visible]
        for i, pos in enumerate(visible):
            if not counted[b, i]:
                continue
            w = exp[i] / sum(exp)
            row = logits[b, i].double()
            log_prob = (row - torch.logsumexp(row, 0)).tolist()
            ce = -sum(t * lp for t, lp in zip(target(pos), log_prob))
            num, den = num + w * ce, den + w
    assert out['loss_pos'].item() == pytest.approx(num / den, rel=1e-5)
    # per-sample pooling gives another value on the same tensors
    sample = DropPosHead(
        grid=4, sigma=sigma, tau=tau,
        normalization='sample').loss(logits, positions, counted,
                                     similarity)['loss_pos']
    assert abs(sample.item() - num / den) > 1e-3
    # uniform weights: the mean over all counted tokens of the batch
    head = DropPosHead(grid=4, sigma=0., attentive=False)
    token = torch.nn.functional.cross_entropy(
        logits.flatten(0, 1), positions.flatten(), reduction='none')
    expected = token[counted.flatten()].mean()
    torch.testing.assert_close(
        head.loss(logits, positions, counted)['loss_pos'], expected)


def test_head_pools_the_weighted_loss_per_sample_when_asked():
    positions, counted = _batch()
    counted[1, 3] = False
    logits = torch.randn(3, 6, 16)
    similarity = torch.rand(3, 16)
    head = DropPosHead(
        grid=4, sigma=0.5, attentive=True, tau=0.1, normalization='sample')
    out = head.loss(logits, positions, counted, similarity)
    weights = attentive_weights(similarity, positions, 0.1) * counted
    weights = weights / weights.sum(1, keepdim=True)
    target = position_smoothing((4, 4), 0.5)[positions]
    token = -(target * logits.log_softmax(-1)).sum(-1)
    expected = (weights * token).sum(1).mean()
    torch.testing.assert_close(out['loss_pos'], expected)
    with pytest.raises(ValueError, match='needs the patch similarity'):
        head.loss(logits, positions, counted)
    counted[2] = False
    with pytest.raises(ValueError, match='a sample has no dropped position'):
        head.loss(logits, positions, counted, similarity)


def test_head_errors_name_the_problem():
    head = DropPosHead(grid=4)
    positions, counted = _batch()
    with pytest.raises(ValueError, match='15 position logits for a 4x4'):
        head.loss(torch.zeros(3, 6, 15), positions, counted)
    with pytest.raises(ValueError, match='no dropped position'):
        head.loss(
            torch.zeros(3, 6, 16), positions, torch.zeros_like(counted),
            torch.zeros(3, 16))
    with pytest.raises(ValueError, match=r'grid must be .* got \(1, 1\)'):
        DropPosHead(grid=1)
    with pytest.raises(ValueError, match='tau must be positive, got 0'):
        DropPosHead(grid=4, tau=0)
    with pytest.raises(ValueError, match="normalization must be one of"):
        DropPosHead(grid=4, normalization='image')


# --------------------------------------------------------------- encoders
def _masks(batch, size, patch_size, mask_ratio=0.75, seed=0):
    np.random.seed(seed)
    transform = DropPositionMask(patch_size, mask_ratio=mask_ratio)
    draws = [
        transform(dict(img=np.zeros((size, size, 3), np.uint8)))
        for _ in range(batch)
    ]
    return tuple(
        torch.from_numpy(np.stack([d[key] for d in draws]))
        for key in ('patch_mask', 'pos_mask'))


def _make(cfg):
    with DefaultScope.overwrite_default_scope('mixmim_plugin'):
        return MODELS.build(cfg)


def _build(cfg):
    model = _make(cfg)
    model.init_weights()
    return model


@pytest.fixture(scope='module')
def vit():
    torch.manual_seed(0)
    return _build(
        dict(type='DropPosViT', arch='tiny', img_size=64, patch_size=16))


def test_vit_tokens_carry_position_or_mask_position_token(vit):
    x = torch.randn(2, 3, 64, 64)
    patch_mask, pos_mask = _masks(2, 64, 16)
    tokens, positions = vit.embed_droppos(x, patch_mask, pos_mask)
    assert tokens.shape == (2, 1 + 4, 64) and positions.shape == (2, 4)
    visible = ~patch_mask.flatten(1)
    assert (positions == visible.nonzero()[:, 1].view(2, 4)).all()
    patches = vit.patch_embed(x)[0]
    added = tokens[:, 1:] - patches.gather(
        1, positions[..., None].expand(-1, -1, 64))
    dropped = pos_mask.flatten(1).gather(1, positions)
    assert dropped.sum() == 2 * 3
    for b in range(2):
        for k in range(4):
            expected = (
                vit.mask_pos_token[0, 0]
                if dropped[b, k] else vit.pos_embed[0, 1 + positions[b, k]])
            torch.testing.assert_close(added[b, k], expected)
    # [CLS] keeps its own embedding
    torch.testing.assert_close(tokens[:, 0],
                               (vit.cls_token +
                                vit.pos_embed[:, :1])[0].expand(2, -1))


def test_vit_gradients_reach_the_mask_position_token(vit):
    vit.zero_grad()
    patch_mask, pos_mask = _masks(2, 64, 16)
    tokens, _ = vit.forward_droppos(
        torch.randn(2, 3, 64, 64), patch_mask, pos_mask)
    tokens.square().sum().backward()
    assert vit.mask_pos_token.grad.abs().sum() > 0
    assert not vit.pos_embed.requires_grad  # fixed sin-cos
    vit.zero_grad()
    tokens, _ = vit.forward_droppos(
        torch.randn(2, 3, 64, 64), patch_mask, torch.zeros_like(pos_mask))
    tokens.square().sum().backward()
    assert vit.mask_pos_token.grad is None or not vit.mask_pos_token.grad.any()


def test_vit_similarity_and_plain_forward(vit):
    x = torch.randn(2, 3, 64, 64)
    similarity = vit.patch_similarity(x)
    assert similarity.shape == (2, 16)
    assert (similarity.abs() <= 1 + 1e-5).all()
    raw = vit(x)[0]  # out_type 'raw': [CLS] + 16 patches, normalized
    expected = torch.nn.functional.cosine_similarity(
        raw[:, :1], raw[:, 1:], dim=-1)
    torch.testing.assert_close(similarity, expected)


def test_vit_rejects_non_square_grids():
    with pytest.raises(ValueError, match='square patch grid .* got 2x4'):
        _make(
            dict(
                type='DropPosViT',
                arch='tiny',
                img_size=(32, 64),
                patch_size=16))


def test_mask_errors_name_the_problem():
    patch_mask, pos_mask = _masks(2, 64, 16)
    with pytest.raises(
            ValueError,
            match=r'\(4, 4\) grid, the encoder has a '
            r'\(7, 7\) patch grid'):
        split_masks(patch_mask, pos_mask, (7, 7))
    bad = pos_mask.clone()
    bad[0] |= patch_mask[0]
    with pytest.raises(ValueError, match='position of a removed patch'):
        split_masks(patch_mask, bad, (4, 4))
    uneven = patch_mask.clone()
    uneven[1] = False
    with pytest.raises(ValueError, match=r'got \[4, 16\]'):
        split_masks(uneven, pos_mask, (4, 4))
    with pytest.raises(ValueError, match='differ in shape'):
        split_masks(patch_mask, pos_mask[:, :2], (4, 4))


# ------------------------------------------------------ hierarchical
@pytest.fixture(scope='module')
def hier():
    torch.manual_seed(0)
    return _build(
        dict(
            type='DropPosMixMIM',
            arch=dict(embed_dims=16, depths=[1, 1, 1, 1], num_heads=[1] * 4),
            img_size=128,
            window_size=[4, 4, 4, 2]))


def test_shuffle_units_moves_whole_units():
    images = torch.randn(2, 3, 64, 96)
    origin = torch.stack([torch.randperm(6) for _ in range(2)])
    out = shuffle_units(images, origin, 32)
    for b in range(2):
        for slot in range(6):
            src = origin[b, slot].item()
            r, c = divmod(slot, 3)
            rs, cs = divmod(src, 3)
            torch.testing.assert_close(
                out[b, :, 32 * r:32 * r + 32, 32 * c:32 * c + 32],
                images[b, :, 32 * rs:32 * rs + 32, 32 * cs:32 * cs + 32])


def test_draw_origin_permutes_dropped_units_only():
    torch.manual_seed(0)
    dropped = torch.zeros(4, 16, dtype=torch.bool)
    for b in range(4):
        dropped[b, torch.randperm(16)[:6]] = True
    origin = draw_origin(dropped)
    identity = torch.arange(16).expand(4, -1)
    assert (origin[~dropped] == identity[~dropped]).all()
    for b in range(4):
        assert sorted(origin[b, dropped[b]].tolist()) == sorted(
            dropped[b].nonzero()[:, 0].tolist())
    moved = (origin != identity).any()
    assert moved
    uneven = dropped.clone()
    uneven[0, :] = False
    with pytest.raises(ValueError, match=r'got \[0, 6, 6, 6\]'):
        draw_origin(uneven)


def test_hierarchical_embeds_mask_and_position_tokens(hier):
    x = torch.randn(2, 3, 128, 128)
    # 16 units -> 12 visible -> 3 keep their position
    patch_mask, pos_mask = _masks(2, 128, 32, mask_ratio=0.25)
    origin = torch.arange(16).repeat(2, 1)
    tokens, hw = hier.embed_droppos(x, patch_mask, pos_mask, origin)
    assert hw == (32, 32)
    patches = hier.patch_embed(x)[0]
    masked, dropped = (
        upsample_mask(m, hw).flatten(1) for m in (patch_mask, pos_mask))
    kept = ~(masked | dropped)
    pos = hier.pos_embed(hw)[0]
    torch.testing.assert_close(
        tokens[masked],
        hier.mask_token[0].expand(masked.sum(), -1) + hier.mask_pos_token[0])
    torch.testing.assert_close(tokens[dropped],
                               patches[dropped] + hier.mask_pos_token[0])
    torch.testing.assert_close(tokens[kept],
                               patches[kept] + pos.expand(2, -1, -1)[kept])


def test_hierarchical_forward_returns_true_positions(hier):
    torch.manual_seed(1)
    patch_mask, pos_mask = _masks(3, 128, 32, mask_ratio=0.25)
    x = torch.randn(3, 3, 128, 128)
    tokens, positions = hier.forward_droppos(x, patch_mask, pos_mask)
    assert tokens.shape == (3, 12, 128) and positions.shape == (3, 12)
    visible = ~patch_mask.flatten(1)
    # a kept unit stays in place; a dropped one comes from a dropped unit
    slots = visible.nonzero()[:, 1].view(3, 12)
    kept = ~pos_mask.flatten(1).gather(1, slots)
    assert (positions[kept] == slots[kept]).all()
    assert (pos_mask.flatten(1).gather(1, positions) == ~kept).all()
    for b in range(3):
        assert sorted(positions[b].tolist()) == sorted(slots[b].tolist())
    tokens.square().sum().backward()
    assert hier.mask_token.grad.abs().sum() > 0
    assert hier.mask_pos_token.grad.abs().sum() > 0
    assert hier.patch_similarity(x).shape == (3, 16)


def test_hierarchical_rejects_inputs_off_the_unit_grid(hier):
    patch_mask, pos_mask = _masks(1, 128, 32)
    with pytest.raises(
            ValueError,
            match='input 112x128 is not a multiple '
            'of the 32-pixel position unit'):
        hier.forward_droppos(torch.randn(1, 3, 112, 128), patch_mask, pos_mask)
    patch_mask, pos_mask = _masks(1, 128, 16)
    with pytest.raises(
            ValueError, match=r'\(8, 8\) grid, the encoder has a '
            r'\(4, 4\)'):
        hier.forward_droppos(torch.randn(1, 3, 128, 128), patch_mask, pos_mask)


# -------------------------------------------------------------- algorithm
TINY = dict(
    type='DropPos',
    backbone=dict(type='DropPosViT', arch='tiny', img_size=64, patch_size=16),
    # the neck's in_channels / num_positions and the head's grid are derived
    neck=dict(type='DropPosDecoder', embed_dims=32, depth=1, num_heads=2),
    head=dict(type='DropPosHead', sigma=1.0, attentive=True))
MAE_PARTS = dict(
    aux_neck=dict(
        type='MAEPretrainDecoder',
        num_patches=16,
        patch_size=16,
        embed_dim=64,
        decoder_embed_dim=32,
        decoder_depth=1,
        decoder_num_heads=2),
    aux_head=dict(
        type='MAEPretrainHead',
        norm_pix=True,
        patch_size=16,
        loss=dict(type='PixelReconstructionLoss', criterion='L2')))


def _samples(batch, size=64, patch_size=16, seed=0):
    patch_mask, pos_mask = _masks(batch, size, patch_size, seed=seed)
    samples = []
    for b in range(batch):
        sample = DataSample()
        sample.set_field(patch_mask[b].numpy(), 'patch_mask')
        sample.set_field(pos_mask[b].numpy(), 'pos_mask')
        samples.append(sample)
    return samples


def test_algorithm_loss_logs_accuracy_and_trains_the_tokens():
    torch.manual_seed(0)
    model = _build(TINY)
    losses = model.loss(torch.randn(4, 3, 64, 64), _samples(4))
    assert set(losses) == {'loss_pos', 'acc_pos'}
    assert 0 <= losses['acc_pos'].item() <= 1
    assert not losses['acc_pos'].requires_grad
    losses['loss_pos'].backward()
    assert model.backbone.mask_pos_token.grad.abs().sum() > 0
    assert model.neck.decoder_pred.weight.grad.abs().sum() > 0


def test_multi_task_loss_is_weighted_position_plus_mae():
    torch.manual_seed(0)
    model = _build({**TINY, **MAE_PARTS, 'pos_weight': 0.05})
    x, samples = torch.randn(2, 3, 64, 64), _samples(2)
    losses = model.loss(x, samples)
    assert set(losses) == {'loss_pos', 'loss_mae', 'acc_pos'}
    model.pos_weight = 1.
    alone = model.loss(x, samples)
    torch.testing.assert_close(losses['loss_pos'], 0.05 * alone['loss_pos'])
    torch.testing.assert_close(losses['loss_mae'], alone['loss_mae'])
    (losses['loss_pos'] + losses['loss_mae']).backward()
    assert model.aux_neck.mask_token.grad.abs().sum() > 0


def test_restore_index_puts_visible_tokens_back():
    patch_mask = torch.from_numpy(_masks(3, 64, 16)[0].numpy()).flatten(1)
    ids_restore = DropPos.restore_index(patch_mask)
    visible = (~patch_mask).nonzero()[:, 1].view(3, 4)
    # what MAEPretrainDecoder does: visible tokens, then mask tokens (-1),
    # gathered with ids_restore
    sequence = torch.cat([visible, -torch.ones(3, 12, dtype=torch.long)], 1)
    restored = sequence.gather(1, ids_restore)
    expected = torch.where(patch_mask, -1, torch.arange(16).expand(3, -1))
    assert (restored == expected).all()


def test_algorithm_errors_name_the_problem():
    with pytest.raises(
            ValueError,
            match=r'head.grid is 3 but the backbone gives \(4, 4\): '
            'leave grid out of the config'):
        _make({**TINY, 'head': dict(type='DropPosHead', grid=3)})
    with pytest.raises(ValueError, match='needs both aux_neck and aux_head'):
        _make({**TINY, 'aux_neck': MAE_PARTS['aux_neck']})
    with pytest.raises(ValueError, match='pos_weight must be positive, got 0'):
        _make({**TINY, 'pos_weight': 0})
    hierarchical = dict(
        TINY,
        backbone=dict(type='DropPosMixMIM', arch='tiny', img_size=64),
        **MAE_PARTS)
    with pytest.raises(ValueError, match='use a ViT backbone'):
        _make(hierarchical)
    with pytest.raises(
            TypeError,
            match='DropPos needs a DropPosEncoder backbone; ResNet lacks '
            'forward_droppos'):
        _make({**TINY, 'backbone': dict(type='ResNet', depth=18)})
    model = _make(TINY)
    with pytest.raises(KeyError, match='DropPositionMask'):
        model.loss(torch.randn(1, 3, 64, 64), [DataSample()])


def _train_positions(content: float, steps: int = 125) -> float:
    """Train the tiny DropPos ViT for ``steps`` on 64x64 images whose red
    and green channels are ``content`` times an x and a y ramp, plus noise;
    return its position accuracy over the last 25 steps."""
    torch.manual_seed(0)
    model = _build(TINY)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    ramp = torch.linspace(-1, 1, 64)
    coords = torch.stack([
        ramp.view(1, 64).expand(64, 64),
        ramp.view(64, 1).expand(64, 64),
        torch.zeros(64, 64)
    ])
    accuracy = []
    for step in range(steps):
        images = content * coords + 0.3 * torch.randn(8, 3, 64, 64)
        losses = model.loss(images, _samples(8, seed=step + 1))
        optimizer.zero_grad()
        losses['loss_pos'].backward()
        optimizer.step()
        accuracy.append(losses['acc_pos'].item())
    return float(np.mean(accuracy[-25:]))


def test_positions_are_learned_exactly_when_the_content_reveals_them():
    """The position task is learnable (targets, masks and the mask position
    token line up: ~100 % where each patch's colour gives its place, fresh
    masks every step) and leaks nothing (chance, 1/16, where the content is
    noise: a dropped token keeps no trace of its position embedding)."""
    assert _train_positions(content=1.0) > 0.9
    assert _train_positions(content=0.0) < 0.2
