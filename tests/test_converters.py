"""Checkpoint converters for the authors' MAE, DropPos and MoBY layouts.

The authors' state dicts are built here from the names and shapes of their
model definitions (facebookresearch/mae ``models_mae.py`` / ``models_vit.py``,
Haochen-Wang409/DropPos ``models_DropPos_mae.py``,
SwinTransformer/Transformer-SSL ``models/moby.py`` and
``models/swin_transformer.py``), independently of the converters; the
plugin models come from the plugin's tiny configs.
"""
import argparse
import importlib
import math
import os.path as osp
from collections import OrderedDict

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.registry import DefaultScope

from mixmim_plugin.converters import (LayoutError, droppos_to_plugin,
                                      mae_to_mmpretrain, mmpretrain_to_mae,
                                      moby_to_plugin, plugin_to_droppos,
                                      plugin_to_moby)
from mixmim_plugin.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# the tiny configs' sizes: 128x128 images, 16-pixel patches (8x8 grid),
# encoder 64 wide, 4 blocks; decoders 128 wide, 2 blocks
IMG, PATCH, DIM, DEPTH, DEC, DEC_DEPTH = 128, 16, 64, 4, 128, 2
NUM = (IMG // PATCH)**2


def build(config: str, **model_updates):
    cfg = Config.fromfile(osp.join(ROOT, config))
    cfg.model.update(model_updates)
    with DefaultScope.overwrite_default_scope('mixmim_plugin'):
        return MODELS.build(cfg.model)


def load_tool(name: str):
    return importlib.import_module(f'mixmim_tools.cli.{name}')


# ------------------------------------------------ authors' layouts (timm)
class Maker:
    """Random tensors of given shapes, reproducible."""

    def __init__(self, seed: int = 0) -> None:
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, *shape) -> torch.Tensor:
        return torch.randn(*shape, generator=self.generator)


def timm_block(t: Maker, prefix: str, dim: int, ratio: int = 4) -> dict:
    """timm ``Block(dim, heads, mlp_ratio, qkv_bias=True)``."""
    hidden = dim * ratio
    return {
        f'{prefix}norm1.weight': t(dim),
        f'{prefix}norm1.bias': t(dim),
        f'{prefix}attn.qkv.weight': t(3 * dim, dim),
        f'{prefix}attn.qkv.bias': t(3 * dim),
        f'{prefix}attn.proj.weight': t(dim, dim),
        f'{prefix}attn.proj.bias': t(dim),
        f'{prefix}norm2.weight': t(dim),
        f'{prefix}norm2.bias': t(dim),
        f'{prefix}mlp.fc1.weight': t(hidden, dim),
        f'{prefix}mlp.fc1.bias': t(hidden),
        f'{prefix}mlp.fc2.weight': t(dim, hidden),
        f'{prefix}mlp.fc2.bias': t(dim),
    }


def timm_vit(t: Maker,
             prefix: str = '',
             dim: int = DIM,
             depth: int = DEPTH,
             num: int = NUM,
             patch: int = PATCH,
             norm: str = 'norm') -> dict:
    """The encoder of MAE / DropPos / DeiT (``norm``, or ``fc_norm`` for a
    global-pool fine-tuned ViT)."""
    state = {
        f'{prefix}cls_token': t(1, 1, dim),
        f'{prefix}pos_embed': t(1, num + 1, dim),
        f'{prefix}patch_embed.proj.weight': t(dim, 3, patch, patch),
        f'{prefix}patch_embed.proj.bias': t(dim),
    }
    for i in range(depth):
        state.update(timm_block(t, f'{prefix}blocks.{i}.', dim))
    state[f'{prefix}{norm}.weight'] = t(dim)
    state[f'{prefix}{norm}.bias'] = t(dim)
    return state


def authors_mae(seed: int = 0) -> dict:
    """``models_mae.MaskedAutoencoderViT``."""
    t = Maker(seed)
    state = timm_vit(t)
    state.update({
        'mask_token': t(1, 1, DEC),
        'decoder_pos_embed': t(1, NUM + 1, DEC),
        'decoder_embed.weight': t(DEC, DIM),
        'decoder_embed.bias': t(DEC),
    })
    for i in range(DEC_DEPTH):
        state.update(timm_block(t, f'decoder_blocks.{i}.', DEC))
    state.update({
        'decoder_norm.weight': t(DEC),
        'decoder_norm.bias': t(DEC),
        'decoder_pred.weight': t(PATCH * PATCH * 3, DEC),
        'decoder_pred.bias': t(PATCH * PATCH * 3),
    })
    return state


def authors_droppos(multi_task: bool = False, seed: int = 0) -> dict:
    """``DropPositionMaskedAutoEncoderViT`` (``multi_task`` adds MAE's
    pixel decoder with the position decoder's size)."""
    t = Maker(seed)
    state = timm_vit(t)
    state['mask_pos_token'] = t(1, 1, DIM)
    state.update({
        'decoder_embed.weight': t(DEC, DIM),
        'decoder_embed.bias': t(DEC)
    })
    for i in range(DEC_DEPTH):
        state.update(timm_block(t, f'decoder_blocks.{i}.', DEC))
    state.update({
        'decoder_norm.weight': t(DEC),
        'decoder_norm.bias': t(DEC),
        'decoder_pred.weight': t(NUM, DEC),
        'decoder_pred.bias': t(NUM),
    })
    if multi_task:
        state.update({
            'aux_decoder_embed.weight': t(DEC, DIM),
            'aux_decoder_embed.bias': t(DEC),
            'aux_decoder_pos_embed': t(1, NUM + 1, DEC),
            'mask_token': t(1, 1, DEC),
        })
        for i in range(DEC_DEPTH):
            state.update(timm_block(t, f'aux_decoder_blocks.{i}.', DEC))
        state.update({
            'aux_decoder_norm.weight': t(DEC),
            'aux_decoder_norm.bias': t(DEC),
            'aux_decoder_pred.weight': t(PATCH * PATCH * 3, DEC),
            'aux_decoder_pred.bias': t(PATCH * PATCH * 3),
        })
    return state


# ------------------------------------------------------------ MAE
def test_mae_authors_checkpoint_loads_strictly_and_round_trips():
    authors = authors_mae()
    state = mae_to_mmpretrain({'model': authors, 'epoch': 3})
    model = build('configs/mae/mae-tiny_1xb32_20e_embedded.py')
    model.load_state_dict(state, strict=True)
    assert torch.equal(model.backbone.ln1.weight, authors['norm.weight'])
    assert torch.equal(model.neck.ln1.bias, authors['decoder_norm.bias'])
    assert torch.equal(model.backbone.layers[2].ffn.layers[0][0].weight,
                       authors['blocks.2.mlp.fc1.weight'])
    back = mmpretrain_to_mae(state)
    assert list(back) == list(authors)
    assert all(torch.equal(back[k], v) for k, v in authors.items())


def test_mae_plugin_checkpoint_round_trips_through_authors_layout():
    model = build('configs/mae/mae-tiny_1xb32_20e_embedded.py')
    state = model.state_dict()
    again = mae_to_mmpretrain(mmpretrain_to_mae({'state_dict': state}))
    assert set(again) == set(state)
    assert all(torch.equal(again[k], v) for k, v in state.items())


def test_mae_encoder_only_and_fine_tuned_checkpoints():
    t = Maker(1)
    encoder = timm_vit(t)  # the released mae_pretrain_vit_*.pth
    state = mae_to_mmpretrain({'model': encoder})
    model = build('configs/mae/mae-tiny_1xb32_20e_embedded.py')
    model.backbone.load_state_dict(
        {
            k[len('backbone.'):]: v
            for k, v in state.items()
        }, strict=True)

    fine_tuned = timm_vit(t, norm='fc_norm')  # models_vit, global pool
    fine_tuned.update({'head.weight': t(10, DIM), 'head.bias': t(10)})
    classifier_cfg = dict(
        type='ImageClassifier',
        backbone=dict(
            type='VisionTransformer',
            arch=dict(
                embed_dims=DIM,
                num_layers=DEPTH,
                num_heads=4,
                feedforward_channels=4 * DIM),
            img_size=IMG,
            patch_size=PATCH,
            out_type='avg_featmap',
            final_norm=False),
        head=dict(
            type='LinearClsHead',
            num_classes=10,
            in_channels=DIM,
            loss=dict(type='CrossEntropyLoss')))
    with DefaultScope.overwrite_default_scope('mixmim_plugin'):
        classifier = MODELS.build(classifier_cfg)
    converted = mae_to_mmpretrain({'model': fine_tuned})
    classifier.load_state_dict(converted, strict=True)
    assert torch.equal(classifier.backbone.ln2.weight,
                       fine_tuned['fc_norm.weight'])
    assert torch.equal(classifier.head.fc.weight, fine_tuned['head.weight'])


# ------------------------------------------------------------ DropPos
def multitask_droppos():
    return build(
        'configs/droppos/droppos-tiny_1xb32_20e_embedded.py',
        pos_weight=0.05,
        aux_neck=dict(
            type='MAEPretrainDecoder',
            num_patches=NUM,
            patch_size=PATCH,
            embed_dim=DIM,
            decoder_embed_dim=DEC,
            decoder_depth=DEC_DEPTH,
            decoder_num_heads=4),
        aux_head=dict(
            type='MAEPretrainHead',
            norm_pix=True,
            patch_size=PATCH,
            loss=dict(type='PixelReconstructionLoss', criterion='L2')))


@pytest.mark.parametrize('multi_task', [False, True])
def test_droppos_authors_checkpoint_loads_strictly_and_round_trips(multi_task):
    authors = authors_droppos(multi_task)
    state = droppos_to_plugin({'model': authors, 'args': None})
    model = multitask_droppos() if multi_task else build(
        'configs/droppos/droppos-tiny_1xb32_20e_embedded.py')
    model.load_state_dict(state, strict=True)
    assert torch.equal(model.backbone.mask_pos_token,
                       authors['mask_pos_token'])
    assert torch.equal(model.neck.decoder_norm.weight,
                       authors['decoder_norm.weight'])
    assert torch.equal(model.neck.decoder_pred.weight,
                       authors['decoder_pred.weight'])
    if multi_task:
        assert torch.equal(model.aux_neck.mask_token, authors['mask_token'])
        assert torch.equal(model.aux_neck.ln1.weight,
                           authors['aux_decoder_norm.weight'])
    back = plugin_to_droppos(state)
    assert list(back) == list(authors)
    assert all(torch.equal(back[k], v) for k, v in authors.items())


def test_droppos_plugin_checkpoint_round_trips_through_authors_layout():
    state = multitask_droppos().state_dict()
    again = droppos_to_plugin(plugin_to_droppos(state))
    assert set(again) == set(state)
    assert all(torch.equal(again[k], v) for k, v in state.items())


def test_hierarchical_droppos_has_no_authors_layout():
    model = build('configs/droppos/droppos-mixmim-tiny_1xb32_20e_embedded.py')
    with pytest.raises(LayoutError, match='DropPosMixMIM'):
        plugin_to_droppos(model.state_dict())


# ------------------------------------------------------------ MoBY
NANO = dict(dim=32, depths=(2, 2, 2), heads=(1, 2, 4), window=4, img=64)


def swin_relative_index(window: int) -> torch.Tensor:
    """``WindowAttention.relative_position_index`` of the authors' Swin."""
    coords = torch.stack(
        torch.meshgrid(
            torch.arange(window), torch.arange(window),
            indexing='ij')).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)
    rel = rel.contiguous()
    rel[:, :, 0] += window - 1
    rel[:, :, 1] += window - 1
    rel[:, :, 0] *= 2 * window - 1
    return rel.sum(-1)


def swin_shift_mask(resolution: int, window: int) -> torch.Tensor:
    """``SwinTransformerBlock.attn_mask`` of the authors (shift w // 2)."""
    shift = window // 2
    img = torch.zeros(resolution, resolution)
    cuts = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
    count = 0
    for h in cuts:
        for w in cuts:
            img[h, w] = count
            count += 1
    n = resolution // window
    windows = img.view(n, window, n, window).permute(0, 2, 1, 3)
    windows = windows.reshape(-1, window * window)
    mask = windows.unsqueeze(1) - windows.unsqueeze(2)
    return mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)


def authors_swin(t: Maker, prefix: str, norm_before_mlp: str = 'ln') -> dict:
    """``models/swin_transformer.py`` with the nano config's sizes (patch 4,
    no absolute position embedding, ``num_classes=0``)."""
    dim, img, window = NANO['dim'], NANO['img'], NANO['window']
    state = {
        f'{prefix}patch_embed.proj.weight': t(dim, 3, 4, 4),
        f'{prefix}patch_embed.proj.bias': t(dim),
        f'{prefix}patch_embed.norm.weight': t(dim),
        f'{prefix}patch_embed.norm.bias': t(dim),
    }
    stages = len(NANO['depths'])
    for i, (depth, heads) in enumerate(zip(NANO['depths'], NANO['heads'])):
        c, res = dim * 2**i, img // 4 // 2**i
        win = min(window, res)
        for j in range(depth):
            block = timm_block(t, f'{prefix}layers.{i}.blocks.{j}.', c)
            if norm_before_mlp == 'bn':  # a fresh BatchNorm at every call
                block = {k: v for k, v in block.items() if '.norm2.' not in k}
            block[f'{prefix}layers.{i}.blocks.{j}.attn.'
                  'relative_position_bias_table'] = t((2 * win - 1)**2, heads)
            block[f'{prefix}layers.{i}.blocks.{j}.attn.'
                  'relative_position_index'] = swin_relative_index(win)
            if j % 2 and res > window:
                block[f'{prefix}layers.{i}.blocks.{j}.attn_mask'] = \
                    swin_shift_mask(res, window)
            state.update(block)
        if i < stages - 1:
            state.update({
                f'{prefix}layers.{i}.downsample.reduction.weight':
                t(2 * c, 4 * c),
                f'{prefix}layers.{i}.downsample.norm.weight':
                t(4 * c),
                f'{prefix}layers.{i}.downsample.norm.bias':
                t(4 * c),
            })
    last = dim * 2**(stages - 1)
    state[f'{prefix}norm.weight'] = t(last)
    state[f'{prefix}norm.bias'] = t(last)
    return state


def moby_mlp(t: Maker, prefix: str, in_dim: int, inner: int, out: int) -> dict:
    """``MoBYMLP(num_layers=2)`` with a (Sync)BatchNorm."""
    return {
        f'{prefix}linear_hidden.1.weight': t(inner, in_dim),
        f'{prefix}linear_hidden.1.bias': t(inner),
        f'{prefix}linear_hidden.2.weight': t(inner),
        f'{prefix}linear_hidden.2.bias': t(inner),
        f'{prefix}linear_hidden.2.running_mean': t(inner),
        f'{prefix}linear_hidden.2.running_var': t(inner).abs(),
        f'{prefix}linear_hidden.2.num_batches_tracked': torch.tensor(7),
        f'{prefix}linear_out.weight': t(out, inner),
        f'{prefix}linear_out.bias': t(out),
    }


def authors_moby(encoder: str = 'swin',
                 feat: int = 128,
                 queue: int = 256,
                 width: int = 128) -> dict:
    """``models/moby.py`` ``MoBY``: encoders, projectors (width -> 512 ->
    feat), predictor (feat -> 512 -> feat), queues (feat, queue)."""
    t = Maker(2)
    state = {}
    for prefix in ('encoder.', 'encoder_k.'):
        if encoder == 'deit':
            state.update(timm_vit(t, prefix, dim=width, depth=2, num=4))
        else:
            state.update(
                authors_swin(
                    t, prefix,
                    encoder[len('swin-'):] if encoder != 'swin' else 'ln'))
    state.update(moby_mlp(t, 'projector.', width, 512, feat))
    state.update(moby_mlp(t, 'projector_k.', width, 512, feat))
    state.update(moby_mlp(t, 'predictor.', feat, 512, feat))
    state['queue1'] = t(feat, queue)
    state['queue2'] = t(feat, queue)
    state['queue_ptr'] = torch.tensor([64])
    return state


NANO_CFG = 'configs/moby/moby-swin-nano_1xb32_30e_embedded.py'


def test_moby_authors_swin_checkpoint_loads_strictly_and_round_trips():
    authors = authors_moby()
    state = moby_to_plugin({'model': authors, 'epoch': 99})
    model = build(NANO_CFG)
    fresh = model.state_dict()
    model.load_state_dict(state, strict=True)
    # the authors' relative position index means what mmpretrain's means
    for key, value in fresh.items():
        if key.endswith('relative_position_index'):
            assert torch.equal(state[key], value), key
    assert torch.equal(model.queues[1], authors['queue2'].t())
    assert int(model.queue_ptr) == 64 and int(model.target.steps) == 0
    assert torch.equal(model.neck.bn0.running_var,
                       authors['projector.linear_hidden.2.running_var'])
    assert torch.equal(model.target.module[1].fc1.weight,
                       authors['projector_k.linear_out.weight'])
    assert torch.equal(model.predictor.fc0.weight,
                       authors['predictor.linear_hidden.1.weight'])
    assert torch.equal(model.backbone.norm2.weight,
                       authors['encoder.norm.weight'])
    back = plugin_to_moby(state, img_size=NANO['img'])
    assert set(back) == set(authors)
    for key, value in authors.items():
        assert torch.equal(back[key], value), key


def _converted_nano_moby():
    """A plugin MoBY holding a converted authors' checkpoint whose target
    branch (encoder_k, projector_k) differs from the online one."""
    authors = authors_moby()
    model = build(NANO_CFG)
    model.load_state_dict(moby_to_plugin({'model': authors}), strict=True)
    MessageHub.get_instance(f'moby_{id(model)}').update_info('max_iters', 100)
    return model


def _two_views(batch: int = 4):
    generator = torch.Generator().manual_seed(0)
    return [
        torch.randn(batch, 3, NANO['img'], NANO['img'], generator=generator)
        for _ in range(2)
    ]


def test_converted_moby_target_is_blended_from_the_first_update():
    """After one step from steps = 0 the target is m * target + (1 - m) *
    online (the authors' update), not a copy of the online branch."""
    model = _converted_nano_moby()
    target = {k: v.clone() for k, v in model.target.module.named_parameters()}
    online = {
        k: v.clone()
        for k, v in model.online_encoder().named_parameters()
    }
    assert any(not torch.equal(target[k], online[k]) for k in target)
    out = model.loss(_two_views(), None)
    m = 1 - 0.01 * (math.cos(0.) + 1) / 2  # iteration 0 of 100
    assert out['momentum'].item() == pytest.approx(m)
    assert int(model.target.steps) == 1
    for name, param in model.target.module.named_parameters():
        expected = m * target[name].double() + (1 - m) * online[name].double()
        torch.testing.assert_close(
            param.double(), expected, rtol=0, atol=1e-6, msg=name)


def test_momentum_update_leaves_the_target_batchnorm_statistics_alone():
    """The target's BN running statistics follow the target's own forward
    passes (BN's running-average rule on the input it saw), never the
    online projector's."""
    model = _converted_nano_moby()
    bn = model.target.module[1].bn0
    before = bn.running_mean.clone()
    online_bn = model.neck.bn0
    assert not torch.equal(before, online_bn.running_mean)
    inputs = []
    bn.register_forward_hook(lambda mod, args, out: inputs.append(args[0]))
    model.loss(_two_views(), None)
    expected = before.double()
    for x in inputs:  # one forward per view, in order
        expected = ((1 - bn.momentum) * expected +
                    bn.momentum * x.double().mean(0))
    torch.testing.assert_close(
        bn.running_mean.double(), expected, rtol=0, atol=1e-5)
    assert not torch.allclose(bn.running_mean, online_bn.running_mean)


def test_moby_patch_merging_is_reordered_to_mmcv():
    """The converted merge computes what the authors' merge computes."""
    authors = authors_moby()
    model = build(NANO_CFG)
    model.load_state_dict(moby_to_plugin(authors), strict=True)
    x = torch.randn(2, 16 * 16, 32)
    merge = model.backbone.stages[0].downsample
    ours, hw = merge(x, (16, 16))
    grid = x.view(2, 16, 16, 32)  # the authors' PatchMerging.forward
    cat = torch.cat([
        grid[:, 0::2, 0::2], grid[:, 1::2, 0::2], grid[:, 0::2, 1::2],
        grid[:, 1::2, 1::2]
    ], -1).view(2, -1, 128)
    prefix = 'encoder.layers.0.downsample.'
    normed = torch.nn.functional.layer_norm(cat, (128, ),
                                            authors[prefix + 'norm.weight'],
                                            authors[prefix + 'norm.bias'])
    theirs = normed @ authors[prefix + 'reduction.weight'].t()
    assert tuple(hw) == (8, 8)
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)


def test_moby_plugin_checkpoint_round_trips_through_authors_layout():
    state = build(NANO_CFG).state_dict()
    again = moby_to_plugin(plugin_to_moby(state, img_size=NANO['img']))
    assert set(again) == set(state)
    for key, value in state.items():
        assert torch.equal(again[key], value), key


def test_moby_batchnorm_variant():
    authors = authors_moby('swin-bn')
    state = moby_to_plugin(authors)
    model = build(
        NANO_CFG,
        backbone=dict(
            type='MoBYSwinTransformer',
            norm_before_mlp='bn',
            arch=dict(embed_dims=32, depths=[2, 2, 2], num_heads=[1, 2, 4]),
            img_size=64,
            window_size=4,
            out_indices=(2, )))
    model.load_state_dict(state, strict=True)
    bn = model.backbone.stages[1].blocks[0].norm2.bn
    assert torch.equal(bn.weight, torch.ones(64))
    assert torch.equal(bn.running_var, torch.ones(64))
    with pytest.raises(LayoutError, match='BatchNorm'):
        plugin_to_moby(state, img_size=64)


def test_moby_deit_checkpoint():
    authors = authors_moby('deit', width=64)
    state = moby_to_plugin(authors)
    model = build(
        'configs/moby/moby-deit-s_8xb64_300e.py',
        backbone=dict(
            type='VisionTransformer',
            arch=dict(
                embed_dims=64,
                num_layers=2,
                num_heads=4,
                feedforward_channels=256),
            img_size=32,
            patch_size=16,
            out_type='cls_token',
            final_norm=True),
        neck=dict(
            type='NonLinearNeck',
            in_channels=64,
            hid_channels=512,
            out_channels=128,
            num_layers=2,
            with_bias=True,
            with_last_bn=False,
            with_last_bias=True,
            with_avg_pool=False,
            norm_cfg=dict(type='SyncBN')),
        predictor=dict(
            type='NonLinearNeck',
            in_channels=128,
            hid_channels=512,
            out_channels=128,
            num_layers=2,
            with_bias=True,
            with_last_bn=False,
            with_last_bias=True,
            with_avg_pool=False,
            norm_cfg=dict(type='SyncBN')),
        queue_len=256,
        feat_dim=128)
    model.load_state_dict(state, strict=True)
    assert torch.equal(model.backbone.ln1.weight,
                       authors['encoder.norm.weight'])
    back = plugin_to_moby(state)
    assert all(torch.equal(back[k], v) for k, v in authors.items())


# ------------------------------------------------------------ wrong layouts
def test_converters_name_the_wrong_layout():
    mae, droppos = authors_mae(), authors_droppos()
    with pytest.raises(LayoutError, match='DropPos'):
        mae_to_mmpretrain(droppos)
    with pytest.raises(LayoutError, match="authors' DropPos.*mask_pos_token"):
        droppos_to_plugin(mae)
    with pytest.raises(LayoutError, match="authors' MAE.*patch_embed"):
        mae_to_mmpretrain(mae_to_mmpretrain(mae))
    with pytest.raises(LayoutError, match="authors' MoBY.*queue1"):
        moby_to_plugin(mae)
    with pytest.raises(LayoutError, match='plugin MoBY.*queues'):
        plugin_to_moby(mae)
    extra = dict(mae, **{'blocks.0.ls1.gamma': torch.ones(DIM)})
    with pytest.raises(LayoutError, match=r'blocks\.0\.ls1\.gamma'):
        mae_to_mmpretrain(extra)
    partial = {
        k: v
        for k, v in authors_moby().items() if not k.startswith('encoder_k.')
    }
    with pytest.raises(LayoutError, match=r'no encoder_k\.\* keys'):
        moby_to_plugin(partial)


# ------------------------------------------------------------ scripts
def test_converter_scripts(tmp_path, capsys):
    src = tmp_path / 'mae_authors.pth'
    torch.save({'model': authors_mae()}, src)
    dst = tmp_path / 'out' / 'mae.pth'
    assert load_tool('mae2mmpretrain').main([str(src), str(dst)]) == 0
    written = torch.load(dst, map_location='cpu')
    assert written['meta']['converted_from'] == str(src)
    build('configs/mae/mae-tiny_1xb32_20e_embedded.py').load_state_dict(
        written['state_dict'], strict=True)
    # back, then into the DropPos converter: a layout error, exit 2
    back = tmp_path / 'back.pth'
    assert load_tool('mae2mmpretrain').main([str(dst),
                                             str(back), '--reverse']) == 0
    bad = tmp_path / 'bad.pth'
    assert load_tool('droppos2plugin').main([str(back), str(bad)]) == 2
    assert 'mask_pos_token' in capsys.readouterr().err
    assert not bad.exists() and not (tmp_path / 'bad.pth.tmp').exists()


def test_pickled_objects_need_trust(tmp_path, capsys):
    """The authors' files pickle their arguments; reading runs code."""
    src = tmp_path / 'droppos_authors.pth'
    torch.save(
        {
            'model': authors_droppos(),
            'args': argparse.Namespace(lr=1.5e-4)
        }, src)
    tool = load_tool('droppos2plugin')
    dst = tmp_path / 'droppos.pth'
    assert tool.main([str(src), str(dst)]) == 2
    err = capsys.readouterr().err
    assert '--trust' in err and 'argparse.Namespace' in err
    assert tool.main([str(src), str(dst), '--trust']) == 0
    state = torch.load(dst, map_location='cpu')['state_dict']
    build(
        'configs/droppos/droppos-tiny_1xb32_20e_embedded.py').load_state_dict(
            state, strict=True)
    moby = tmp_path / 'moby.pth'
    torch.save({'model': authors_moby()}, moby)
    out = tmp_path / 'moby_plugin.pth'
    assert load_tool('moby2plugin').main([str(moby), str(out)]) == 0
    back = tmp_path / 'moby_back.pth'
    assert load_tool('moby2plugin').main(
        [str(out), str(back), '--reverse', '--img-size', '64']) == 0
    restored = torch.load(back, map_location='cpu')['state_dict']
    assert OrderedDict(restored).keys() == authors_moby().keys()
