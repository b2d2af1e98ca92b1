"""Numerical parity with mmpretrain's MixMIM, and the checkpoint converters
(mmpretrain and authors' layouts)."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.hub import get_config
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS

from mixmim_plugin.converters import (LayoutError, authors_to_plugin,
                                      mmpretrain_to_plugin, plugin_to_authors,
                                      plugin_to_mmpretrain)
from mixmim_plugin.registry import MODELS

MMPRETRAIN_CFG = 'mmpretrain::mixmim/mixmim_mixmim-base_16xb128-coslr-300e_in1k.py'  # noqa: E501
# mmpretrain's MixMIM neck normalises with eps 1e-6; the plugin's decoder
# defaults to the authors' 1e-5 (configs/mixmim/README.md, "Differences")
MMPRETRAIN_DECODER_NORM = dict(type='LN', eps=1e-6)
SMALL = dict(embed_dims=32, depths=[1, 1, 2, 1], num_heads=[1, 2, 4, 8])


def _quiet_init(model):
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel('ERROR')
    model.init_weights()
    logger.setLevel(level)
    return model


def mmpretrain_pretrainer(arch, decoder):
    cfg = get_config(MMPRETRAIN_CFG)
    cfg.model.backbone.arch = arch
    cfg.model.neck.update(decoder)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return _quiet_init(MMPRETRAIN_MODELS.build(cfg.model))


def plugin_pretrainer(arch, decoder, in_channels):
    cfg = dict(
        type='MixMIMPretrainer',
        mask_mode='per_batch',
        backbone=dict(type='MixMIMEncoder', arch=arch),
        neck=dict(
            type='MixMIMDualDecoder',
            num_patches=49,
            in_channels=in_channels,
            patch_size=32,
            decoder_embed_dim=decoder.get('decoder_embed_dim', 512),
            decoder_depth=decoder.get('decoder_depth', 8),
            decoder_num_heads=decoder.get('decoder_num_heads', 16),
            norm_cfg=MMPRETRAIN_DECODER_NORM),
        head=dict(
            type='MixMIMDualHead',
            norm_pix=True,
            patch_size=32,
            loss=dict(type='PixelReconstructionLoss', criterion='L2')))
    with DefaultScope.overwrite_default_scope('mixmim_plugin'):
        return MODELS.build(cfg)


def fix_mmpretrain_mask(model, mask):
    """Make mmpretrain's backbone use ``mask`` (7x7 bool) for the batch."""
    m = mask.float().view(1, 1, 7, 7)

    def masking(x, mask_ratio=0.5):
        scaled = [
            F.interpolate(m, size=(s, s), mode='nearest').reshape(1, s * s, 1)
            for s in (56, 28, 14)
        ]
        return (*scaled, m.reshape(1, 49, 1))

    model.backbone.random_masking = masking


def random_mask(seed=0):
    g = torch.Generator().manual_seed(seed)
    mask = torch.zeros(49, dtype=torch.bool)
    mask[torch.randperm(49, generator=g)[:24]] = True
    return mask.view(7, 7)


@pytest.mark.parametrize('arch,decoder,width', [
    (SMALL,
     dict(
         embed_dim=256,
         decoder_embed_dim=64,
         decoder_depth=2,
         decoder_num_heads=2), 256),
    pytest.param('b', dict(decoder_depth=2), 1024, marks=pytest.mark.slow),
])
def test_pretraining_loss_equals_mmpretrain(arch, decoder, width):
    """Same weights (converted), same mask, 224 inputs, fp32: the losses
    agree to 1e-4 (the windows 14-14-14-7 and the decoder are the real ones;
    the small arch keeps the test fast)."""
    torch.manual_seed(0)
    ref = mmpretrain_pretrainer(arch, decoder)
    ours = plugin_pretrainer(arch, decoder, width)
    ours.load_state_dict(mmpretrain_to_plugin(ref.state_dict()), strict=True)
    mask = random_mask()
    fix_mmpretrain_mask(ref, mask)
    x = torch.randn(4, 3, 224, 224)
    expected = ref.loss(x, [])['loss']
    got = ours.forward_train(x, mask.expand(4, 7, 7))['loss']
    assert abs(expected.item() - got.item()) < 1e-4


def test_pooled_features_equal_mmpretrain_mixmim_b():
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        ref = _quiet_init(
            MMPRETRAIN_MODELS.build(dict(type='MixMIMTransformer', arch='b')))
    ref.eval()  # mmpretrain's backbone train() returns None: no chaining
    state = {f'backbone.{k}': v for k, v in ref.state_dict().items()}
    with DefaultScope.overwrite_default_scope('mixmim_plugin'):
        ours = MODELS.build(dict(type='MixMIMEncoder', arch='b')).eval()
    converted = mmpretrain_to_plugin(state)
    ours.load_state_dict(
        {
            k[len('backbone.'):]: v
            for k, v in converted.items()
        }, strict=True)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours(x)[0], ref(x)[0], rtol=0, atol=1e-5)


def test_fine_tuned_classifier_checkpoint_converts():
    """An mmpretrain MixMIM-B classifier checkpoint (backbone + head.fc)
    loads into the plugin's classifier with nothing missing."""
    cfg = dict(
        type='ImageClassifier',
        backbone=dict(type='MixMIMTransformer', arch=SMALL),
        head=dict(
            type='LinearClsHead',
            num_classes=10,
            in_channels=256,
            loss=dict(type='CrossEntropyLoss')))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        ref = MMPRETRAIN_MODELS.build(cfg).eval()
    cfg['backbone'] = dict(type='MixMIMEncoder', arch=SMALL)
    with DefaultScope.overwrite_default_scope('mixmim_plugin'):
        ours = MODELS.build(cfg).eval()
    checkpoint = {'meta': {}, 'state_dict': ref.state_dict()}
    ours.load_state_dict(mmpretrain_to_plugin(checkpoint), strict=True)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), rtol=0, atol=1e-5)


def test_mmpretrain_round_trip():
    ref = mmpretrain_pretrainer(
        SMALL,
        dict(
            embed_dim=256,
            decoder_embed_dim=64,
            decoder_depth=1,
            decoder_num_heads=2))
    state = ref.state_dict()
    back = plugin_to_mmpretrain(mmpretrain_to_plugin(state))
    assert set(back) == set(state)
    for key in state:
        assert torch.equal(back[key], state[key]), key


def timm_patch_merging(x, hw, norm, reduction):
    """The authors' (timm 0.3) PatchMerging: concatenate the 2x2 neighbours
    in the order (0,0), (1,0), (0,1), (1,1), then LN and a linear."""
    B, L, C = x.shape
    H, W = hw
    x = x.view(B, H, W, C)
    x = torch.cat([
        x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]
    ], -1).view(B, -1, 4 * C)
    return reduction(norm(x))


def test_authors_layout_round_trip_and_merge_order():
    """plugin -> authors' timm-style layout -> plugin is the identity, and
    the permuted patch-merging weights make mmcv's unfold-based merging
    compute exactly what timm's concatenation computes."""
    torch.manual_seed(0)
    model = plugin_pretrainer(SMALL, dict(decoder_depth=1), 256)
    state = model.state_dict()
    authors = plugin_to_authors(state)
    assert 'patch_embed.proj.weight' in authors
    assert 'layers.0.blocks.0.norm1.weight' in authors
    assert 'decoder_blocks.0.mlp.fc2.weight' in authors
    assert 'decoder_norm.weight' in authors
    back = authors_to_plugin({'model': authors})
    assert set(back) == set(state)
    for key in state:
        assert torch.equal(back[key], state[key]), key

    merge = model.backbone.layers[0].downsample
    norm = torch.nn.LayerNorm(128)
    reduction = torch.nn.Linear(128, 64, bias=False)
    norm.load_state_dict({
        'weight': authors['layers.0.downsample.norm.weight'],
        'bias': authors['layers.0.downsample.norm.bias']
    })
    reduction.weight.data = authors['layers.0.downsample.reduction.weight']
    x = torch.randn(2, 16 * 16, 32)
    with torch.no_grad():
        ours, _ = merge(x, (16, 16))
        theirs = timm_patch_merging(x, (16, 16), norm, reduction)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


def swin_index(window: int) -> torch.Tensor:
    """Swin's relative position index, pair by pair: (dy + w - 1) *
    (2w - 1) + (dx + w - 1) for tokens p, q of a w x w window."""
    cells = [(y, x) for y in range(window) for x in range(window)]
    return torch.tensor([[
        (py - qy + window - 1) * (2 * window - 1) + (px - qx + window - 1)
        for qy, qx in cells
    ] for py, px in cells])


def test_authors_layout_holds_every_relative_position_index():
    """The authors' WindowAttention registers its index buffer right after
    the bias table and their resume path loads strictly: the converted
    checkpoint holds one per block, equal to Swin's index of the block's
    (clipped) window, and converts back to the plugin's layout."""
    model = plugin_pretrainer(SMALL, dict(decoder_depth=1), 256)
    state = model.state_dict()
    authors = plugin_to_authors(state)
    keys = list(authors)
    tables = [
        k for k in keys if k.endswith('attn.relative_position_bias_table')
    ]
    assert len(tables) == sum(SMALL['depths'])
    # the encoder's windows 14-14-14-7 at 224 fit the 56/28/14/7 maps
    sides = [
        w for w, d in zip((14, 14, 14, 7), SMALL['depths']) for _ in range(d)
    ]
    for table, side in zip(tables, sides):
        index_key = table.replace('bias_table', 'index')
        assert keys[keys.index(table) + 1] == index_key
        assert authors[table].shape[0] == (2 * side - 1)**2
        assert torch.equal(authors[index_key], swin_index(side)), index_key
    assert len([k for k in keys
                if k.endswith('relative_position_index')]) == len(tables)
    back = authors_to_plugin({'model': authors})
    assert list(back) == [k for k in state]
    assert all(torch.equal(back[k], state[k]) for k in state)
    assert list(plugin_to_authors(back)) == keys


def test_converters_reject_the_wrong_layout():
    model = plugin_pretrainer(SMALL, dict(decoder_depth=1), 256)
    authors = plugin_to_authors(model.state_dict())
    with pytest.raises(LayoutError, match='not a mmpretrain MixMIM'):
        mmpretrain_to_plugin(authors)
    with pytest.raises(LayoutError, match="not a authors'"):
        authors_to_plugin(model.state_dict())
    with pytest.raises(LayoutError, match='must be a dict'):
        mmpretrain_to_plugin([1, 2])


def test_converter_script(tmp_path):
    import os.path as osp
    import subprocess
    import sys
    root = osp.dirname(osp.dirname(osp.abspath(__file__)))
    script = osp.join(root, 'tools/model_converters/mixmim2plugin.py')
    ref = mmpretrain_pretrainer(
        SMALL,
        dict(
            embed_dim=256,
            decoder_embed_dim=64,
            decoder_depth=1,
            decoder_num_heads=2))
    src, dst = tmp_path / 'mmpretrain.pth', tmp_path / 'out' / 'plugin.pth'
    torch.save({'state_dict': ref.state_dict(), 'meta': {}}, src)
    done = subprocess.run([sys.executable, script,
                           str(src),
                           str(dst)],
                          capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    ours = plugin_pretrainer(
        SMALL,
        dict(decoder_embed_dim=64, decoder_depth=1, decoder_num_heads=2), 256)
    ours.load_state_dict(torch.load(dst)['state_dict'], strict=True)
    authors = tmp_path / 'authors.pth'
    done = subprocess.run(
        [sys.executable, script,
         str(dst),
         str(authors), '--to', 'authors'],
        capture_output=True,
        text=True)
    assert done.returncode == 0, done.stderr
    assert 'patch_embed.proj.weight' in torch.load(authors)['state_dict']

    torch.save({'state_dict': {'fc.weight': torch.zeros(1)}}, src)
    done = subprocess.run([sys.executable, script,
                           str(src),
                           str(dst)],
                          capture_output=True,
                          text=True)
    assert done.returncode == 2 and 'cannot tell the layout' in done.stderr
