"""MixMIM transform, encoder, decoder, head and algorithm."""
import numpy as np
import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope
from mmpretrain.datasets.transforms import PackInputs
from torch import nn

from mixmim_plugin.datasets.transforms import MixMaskGenerator
from mixmim_plugin.models.utils import upsample_mask
from mixmim_plugin.registry import MODELS

TINY = dict(embed_dims=32, depths=[1, 1, 2, 1], num_heads=[1, 2, 4, 8])


def build(cfg):
    with DefaultScope.overwrite_default_scope('mixmim_plugin'):
        model = MODELS.build(cfg)
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel('ERROR')  # init_weights prints a table per parameter
    model.init_weights()
    logger.setLevel(level)
    return model


def tiny_pretrainer(img=64, windows=(8, 8, 2, 1), backbone=None, **kwargs):
    cfg = dict(
        type='MixMIMPretrainer',
        backbone=dict(
            type='MixMIMEncoder',
            arch=TINY,
            img_size=img,
            window_size=list(windows),
            **(backbone or {})),
        neck=dict(
            type='MixMIMDualDecoder',
            num_patches=(img // 32)**2,
            in_channels=256,
            patch_size=32,
            decoder_embed_dim=32,
            decoder_depth=1,
            decoder_num_heads=2),
        head=dict(
            type='MixMIMDualHead',
            norm_pix=True,
            patch_size=32,
            loss=dict(type='PixelReconstructionLoss', criterion='L2')))
    cfg.update(kwargs)
    return build(cfg)


def unit_masks(B, side, seed=0):
    g = torch.Generator().manual_seed(seed)
    masks = torch.zeros(B, side * side, dtype=torch.bool)
    for b in range(B):
        masks[b,
              torch.randperm(side * side, generator=g)[:side * side //
                                                       2]] = True
    return masks.view(B, side, side)


# ------------------------------------------------------------------ transform
def test_mix_mask_counts_and_packing():
    transform = MixMaskGenerator(input_size=224, window_size=[14, 14, 14, 7])
    results = transform(dict(img=np.zeros((224, 224, 3), np.uint8)))
    mask = results['mix_mask']
    assert mask.shape == (7, 7) and mask.dtype == bool
    assert mask.sum() == 24  # floor(49 * 0.5), as the authors
    packed = PackInputs(algorithm_keys=['mix_mask'])(results)
    assert np.array_equal(packed['data_samples'].mix_mask, mask)


def test_mix_mask_ratio_range_varies_per_sample():
    np.random.seed(0)
    transform = MixMaskGenerator(ratio_range=(0.2, 0.8))
    counts = {
        int(transform(dict(img=np.zeros((224, 224, 3))))['mix_mask'].sum())
        for _ in range(30)
    }
    assert len(counts) > 5 and min(counts) >= 9 and max(counts) <= 39


@pytest.mark.parametrize('kwargs,size,match', [
    (dict(), (100, 100), '100x100 is not a multiple of mask_patch_size 32'),
    (dict(window_size=[14, 14, 14, 7]), (256, 256),
     'stage 1 has a 64x64 token map, which window 14 does not tile'),
    (dict(input_size=224), (256, 256), 'expected input_size 224x224'),
    (dict(), (32, 32), 'single 32-pixel unit'),
])
def test_mix_mask_rejects_bad_sizes(kwargs, size, match):
    transform = MixMaskGenerator(**kwargs)
    with pytest.raises(ValueError, match=match):
        transform(dict(img=np.zeros((*size, 3), np.uint8)))


@pytest.mark.parametrize('kwargs,match', [
    (dict(mask_ratio=0.0), r'mask_ratio must be in \(0, 1\)'),
    (dict(mask_ratio=1.0), r'mask_ratio must be in \(0, 1\)'),
    (dict(ratio_range=(0.6, 0.4)), 'ratio_range'),
    (dict(mask_patch_size=16), 'not a multiple of the encoder stride 32'),
])
def test_mix_mask_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MixMaskGenerator(**kwargs)


# ------------------------------------------------------------------ encoder
def test_parameter_counts_match_the_references():
    """B encoder + 1000-class head ~88 M (reference sheet); the B pretraining
    model holds exactly mmpretrain's 114.67 M values (its two frozen sin-cos
    tables are parameters there, buffers here)."""
    encoder = build(dict(type='MixMIMEncoder', arch='b'))
    n_encoder = sum(p.numel() for p in encoder.parameters())
    assert abs((n_encoder + 1024 * 1000 + 1000) / 1e6 - 88.0) < 0.5
    from mmengine.config import Config
    model = build(
        Config.fromfile('configs/mixmim/mixmim-b_8xb128_600e.py').model)
    n_params = sum(p.numel() for p in model.parameters())
    n_tables = (
        model.backbone.absolute_pos_embed.numel() +
        model.neck.decoder_pos_embed.numel())
    assert round((n_params + n_tables) / 1e4) == 11467


def test_arch_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown MixMIMEncoder arch 'x'"):
        build(dict(type='MixMIMEncoder', arch='x'))
    with pytest.raises(ValueError, match='custom arch must be a dict'):
        build(dict(type='MixMIMEncoder', arch=dict(embed_dims=8)))
    with pytest.raises(ValueError, match='out_indices entry 4 is out of'):
        build(dict(type='MixMIMEncoder', arch='tiny', out_indices=(4, )))


@pytest.mark.parametrize('out_type,shapes', [
    ('avg_featmap', [(2, 256)]),
    ('featmap', [(2, 32, 16, 16), (2, 64, 8, 8), (2, 128, 4, 4),
                 (2, 256, 2, 2)]),
    ('raw', [(2, 4, 256)]),
])
def test_encoder_outputs(out_type, shapes):
    indices = (3, ) if out_type != 'featmap' else (0, 1, 2, 3)
    encoder = build(
        dict(
            type='MixMIMEncoder',
            arch=TINY,
            img_size=64,
            out_type=out_type,
            out_indices=indices))
    outs = encoder(torch.randn(2, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == shapes


def test_encoder_takes_sizes_its_windows_do_not_tile():
    """Any input size: padded to the windows and cropped back."""
    encoder = build(
        dict(
            type='MixMIMEncoder',
            arch=TINY,
            out_type='featmap',
            out_indices=(0, 3)))
    outs = encoder(torch.randn(1, 3, 100, 140))
    assert [tuple(o.shape[-2:]) for o in outs] == [(25, 35), (4, 5)]
    assert all(torch.isfinite(o).all() for o in outs)


def test_layer_depth_for_layer_decay():
    encoder = build(dict(type='MixMIMEncoder', arch='b'))
    depth = encoder.get_layer_depth
    assert depth('backbone.patch_embed.projection.weight',
                 'backbone.') == (0, 26)
    assert depth('backbone.layers.0.blocks.1.attn.qkv.weight',
                 'backbone.')[0] == 2
    assert depth('backbone.layers.2.blocks.0.ln1.weight', 'backbone.')[0] == 5
    assert depth('backbone.layers.1.downsample.reduction.weight',
                 'backbone.')[0] == 4
    assert depth('head.fc.weight', 'backbone.')[0] == 25


def test_gradient_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 64, 64)
    grads = []
    for with_cp in (False, True):
        torch.manual_seed(1)
        encoder = build(
            dict(
                type='MixMIMEncoder',
                arch=TINY,
                img_size=64,
                window_size=[8, 8, 2, 1],
                with_cp=with_cp))
        encoder(x)[0].sum().backward()
        grads.append(encoder.patch_embed.projection.weight.grad)
    torch.testing.assert_close(grads[0], grads[1])


def test_frozen_stages():
    encoder = build(
        dict(type='MixMIMEncoder', arch=TINY, img_size=64, frozen_stages=1))
    encoder.train()
    assert not any(p.requires_grad for p in encoder.patch_embed.parameters())
    assert not any(p.requires_grad for p in encoder.layers[0].parameters())
    assert all(p.requires_grad for p in encoder.layers[1].parameters())
    assert not encoder.layers[0].training


def test_grid_mismatch_is_reported():
    encoder = build(dict(type='MixMIMEncoder', arch=TINY, img_size=64))
    with pytest.raises(ValueError, match='mix-mask grid 3x3 does not divide'):
        encoder.forward_mixed(
            torch.randn(2, 3, 64, 64), torch.zeros(2, 3, 3, dtype=bool))


def test_mix_embedding_variant():
    model = tiny_pretrainer()
    plain = tiny_pretrainer(backbone=dict(masked_attn=False, mix_embed=True))
    plain.load_state_dict(model.state_dict(), strict=False)
    embeds = plain.backbone.mix_embeds
    assert [tuple(e.shape) for e in embeds] == [(2, 32), (2, 64), (2, 128),
                                                (2, 256)]
    x, masks = torch.randn(4, 3, 64, 64), unit_masks(4, 2)
    plain.forward_train(x, plain.pair_masks(masks))['loss'].backward()
    assert all(e.grad is not None and e.grad.abs().sum() > 0 for e in embeds)
    # no masking: a token now sees the partner's pixels
    mixed, _ = plain.mix(x, plain.pair_masks(masks))
    y = mixed.clone()
    pix = upsample_mask(plain.pair_masks(masks), (64, 64)).unsqueeze(1)
    y = torch.where(pix, y + 1, y)
    own = ~plain.pair_masks(masks).flatten(1)
    a = plain.backbone.forward_mixed(mixed, plain.pair_masks(masks))
    b = plain.backbone.forward_mixed(y, plain.pair_masks(masks))
    assert not torch.allclose(a[own], b[own])
    a = model.backbone.forward_mixed(mixed, model.pair_masks(masks))
    b = model.backbone.forward_mixed(y, model.pair_masks(masks))
    torch.testing.assert_close(a[own], b[own])


# ------------------------------------------------------------------ algorithm
def test_pairing_and_mixing():
    model = tiny_pretrainer()
    masks = unit_masks(4, 2)
    paired = model.pair_masks(masks)
    assert torch.equal(paired[0], paired[3]) and torch.equal(
        paired[1], paired[2])
    assert torch.equal(paired[0], masks[0]) and torch.equal(
        paired[1], masks[1])
    x = torch.randn(4, 3, 64, 64)
    mixed, partner = model.mix(x, paired)
    assert partner.tolist() == [3, 2, 1, 0]
    pix = upsample_mask(paired, (64, 64)).unsqueeze(1).expand_as(x)
    assert torch.equal(mixed[pix], x[partner][pix])
    assert torch.equal(mixed[~pix], x[~pix])
    authors = tiny_pretrainer(mask_mode='per_batch')
    assert (authors.pair_masks(masks) == masks[0]).all()


def test_head_patch_size_must_match_the_encoder_stride():
    with pytest.raises(
            ValueError,
            match='head.patch_size is 16 but the backbone gives 32'):
        tiny_pretrainer(
            head=dict(
                type='MixMIMDualHead',
                patch_size=16,
                loss=dict(type='PixelReconstructionLoss', criterion='L2')))


def test_odd_batch_policy():
    x, masks = torch.randn(5, 3, 64, 64), unit_masks(5, 2)
    model = tiny_pretrainer()
    even_x, even_masks = model.even_batch(x, masks)
    assert even_x.shape[0] == 4 and torch.equal(even_x, x[:4])
    strict = tiny_pretrainer(odd_batch='error')
    with pytest.raises(ValueError, match='odd batch of 5 images'):
        strict.even_batch(x, masks)
    with pytest.raises(ValueError, match='a batch of 1 image has no pair'):
        model.even_batch(x[:1], masks[:1])
    with pytest.raises(ValueError, match='odd_batch'):
        tiny_pretrainer(odd_batch='duplicate')


def test_decoder_normalises_with_the_authors_eps():
    """Every LayerNorm of the decoder uses eps 1e-5 (the authors'
    nn.LayerNorm default, with which their weights were trained): on tokens
    of small variance the output is the 1e-5 formula, computed here, and
    visibly not mmpretrain's 1e-6."""
    model = tiny_pretrainer()
    norms = [m for m in model.neck.modules() if isinstance(m, nn.LayerNorm)]
    assert len(norms) == 3 and {m.eps for m in norms} == {1e-5}
    norm = model.neck.decoder_norm
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.uniform_(-1, 1)
    x = torch.randn(2, 4, 32, dtype=torch.float64) * 3e-3
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean)**2).mean(-1, keepdim=True)
    weight, bias = norm.weight.double(), norm.bias.double()

    def formula(eps):
        return (x - mean) / torch.sqrt(var + eps) * weight + bias

    out = norm(x.float()).double()
    torch.testing.assert_close(out, formula(1e-5), rtol=1e-4, atol=1e-5)
    assert (out - formula(1e-6)).abs().max() > 0.1


def test_decoder_copies_are_complementary():
    model = tiny_pretrainer()
    neck = model.neck
    latent = torch.randn(2, 4, 256)
    mask = torch.tensor([[True, False, False, True],
                         [False, True, True, False]])
    captured = {}
    handle = neck.decoder_blocks[0].register_forward_pre_hook(
        lambda m, args: captured.setdefault('x', args[0]))
    out = neck(latent, mask)
    handle.remove()
    assert out.shape == (4, 4, 32 * 32 * 3)
    x = captured['x'] - neck.decoder_pos_embed
    token = neck.mask_token[0, 0]
    embedded = neck.decoder_embed(latent)
    torch.testing.assert_close(x[:2][mask], token.expand(4, -1))
    torch.testing.assert_close(x[:2][~mask], embedded[~mask])
    torch.testing.assert_close(x[2:][~mask], token.expand(4, -1))
    torch.testing.assert_close(x[2:][mask], embedded[mask])


def test_head_unmixes_and_reports_both_copies():
    model = tiny_pretrainer()
    head = model.head
    images = torch.randn(4, 3, 64, 64)
    target = head.construct_target(images)
    mask = torch.tensor([[1, 0, 0, 1], [0, 1, 1, 0], [0, 1, 1, 0],
                         [1, 0, 0, 1]]).bool()
    partner = torch.tensor([3, 2, 1, 0])
    # copy 1 of image i right where it is hidden, copy 2 of its partner right
    # elsewhere: zero loss
    pred = torch.zeros(8, 4, target.shape[-1])
    for i in range(4):
        pred[i][mask[i]] = target[i][mask[i]]
        pred[4 + partner[i]][~mask[i]] = target[i][~mask[i]]
    rec = head.unmix(pred, mask, partner)
    torch.testing.assert_close(rec, target)
    assert head.loss(pred, images, mask, partner)['loss'] < 1e-10
    noisy = pred + torch.randn_like(pred)
    losses = head.loss(noisy, images, mask, partner)
    n1, n0 = mask.sum(), (~mask).sum()
    total = (losses['mse_copy1'] * n1 + losses['mse_copy2'] * n0) / (n0 + n1)
    torch.testing.assert_close(losses['loss'], total)


def test_loss_requires_mix_masks_in_the_data_samples():
    from mmpretrain.structures import DataSample
    model = tiny_pretrainer()
    with pytest.raises(KeyError, match='MixMaskGenerator'):
        model.loss(torch.randn(2, 3, 64, 64), [DataSample(), DataSample()])


def test_training_step_and_extract_feat():
    model = tiny_pretrainer()
    model.train()
    x, masks = torch.randn(4, 3, 64, 64), unit_masks(4, 2)
    from mmpretrain.structures import DataSample
    samples = [DataSample() for _ in masks]
    for sample, mask in zip(samples, masks):
        sample.set_field(mask.numpy(), 'mix_mask')
    optim = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(6):
        out = model.loss(x, samples)
        assert set(out) == {'loss', 'mse_copy1', 'mse_copy2'}
        optim.zero_grad()
        out['loss'].backward()
        optim.step()
        losses.append(out['loss'].item())
    assert losses[-1] < losses[0]
    feats = model.extract_feat(x)
    assert feats[0].shape == (4, 256)


def test_reconstruct_composites():
    model = tiny_pretrainer()
    x, masks = torch.randn(4, 3, 64, 64), unit_masks(4, 2)
    out = model.reconstruct(x, masks)
    pix = out['mask'].expand_as(x)
    partner = model.partner_index(4)
    assert torch.equal(out['rec_self'][~pix], x[~pix])
    assert torch.equal(out['rec_partner'][pix], x[partner][pix])
    assert torch.equal(out['mixed'][pix], x[partner][pix])


@pytest.mark.parametrize('path,tokens,width,stride', [
    ('configs/mixmim/mixmim-b_8xb128_600e.py', 49, 1024, 32),
    ('configs/mixmim/mixmim-vit-b_8xb128_600e.py', 196, 768, 16),
    ('configs/mixmim/mixmim-swin-b_8xb128_600e.py', 49, 1024, 32),
    ('configs/mixmim/mixmim-tiny_1xb32_20e_embedded.py', 16, 512, 32),
])
def test_decoder_and_head_sizes_follow_the_backbone(path, tokens, width,
                                                    stride):
    """The configs state no size that follows from the encoder; the
    pretrainer fills in the decoder's width, tokens and patch size and the
    head's patch size (the reference sheet's 49 x 1024 at 224 for B)."""
    from mmengine.config import Config
    cfg = Config.fromfile(path)
    assert not {'num_patches', 'in_channels', 'patch_size'} & set(
        cfg.model.neck)
    assert 'patch_size' not in cfg.model.head
    model = build(cfg.model)
    assert model.neck.num_patches == tokens
    assert model.neck.decoder_embed.in_features == width
    assert model.neck.patch_size == model.head.patch_size == stride


def test_a_stated_size_must_agree_with_the_backbone():
    from mmengine.config import Config
    cfg = Config.fromfile('configs/mixmim/mixmim-tiny_1xb32_20e_embedded.py')
    stated = dict(cfg.model, neck=dict(cfg.model.neck, in_channels=513))
    with pytest.raises(
            ValueError,
            match='neck.in_channels is 513 but the '
            'backbone gives 512: leave in_channels out'):
        build(stated)
