"""Checked pretrained loading: every plugin backbone (and the checked
mmdet / mmseg Swins) compares a ``Pretrained`` checkpoint with itself before
loading it, whichever codebase calls ``init_weights``."""
import importlib
import logging
import os.path as osp
import re
from contextlib import contextmanager

import pytest
import torch
from mmengine.config import Config, ConfigDict
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope

from mixmim_plugin.converters import to_backbone
from mixmim_plugin.models.utils import CheckpointMismatchError

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DET_TINY = osp.join(ROOT, 'configs', 'mixmim', 'benchmarks',
                    'mask-rcnn_mixmim-tiny_fpn_1xb4-1e_embedded.py')
SEG_TINY = osp.join(ROOT, 'configs', 'mixmim', 'benchmarks',
                    'upernet_mixmim-tiny_1xb4-20i_embedded.py')
MOBY_DET = osp.join(ROOT, 'configs', 'moby', 'benchmarks',
                    'mask-rcnn_swin-t-p4-w7_fpn_8xb2-1x_coco.py')
MOBY_SEG = osp.join(ROOT, 'configs', 'moby', 'benchmarks',
                    'upernet_swin-t-p4-w7_8xb2-160k_ade20k-512x512.py')

HIERARCHICAL = dict(
    arch=dict(embed_dims=32, depths=[1, 1, 2, 1], num_heads=[1, 2, 4, 8]),
    img_size=64,
    window_size=[4, 4, 2, 1])
VIT = dict(
    arch=dict(
        embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64),
    img_size=64,
    patch_size=16)
MMPRETRAIN_SWIN = dict(
    arch=dict(embed_dims=24, depths=[2, 2], num_heads=[1, 2]),
    img_size=64,
    window_size=4,
    out_indices=(1, ))
MMDET_SWIN = dict(
    embed_dims=24,
    depths=(2, 2),
    num_heads=(1, 2),
    strides=(4, 2),
    window_size=4,
    out_indices=(1, ))

# name: (scope, pretraining cfg, downstream changes, fresh tensors there)
BACKBONES = {
    'MixMIMEncoder':
    ('mixmim_plugin', HIERARCHICAL,
     dict(
         img_size=96,
         window_size=[6, 6, 3, 2],
         out_indices=(0, 1, 2, 3),
         out_type='featmap'),
     [f'norm{i}.{p}' for i in range(3) for p in ('weight', 'bias')]),
    'DropPosMixMIM': ('mixmim_plugin', HIERARCHICAL,
                      dict(out_indices=(2, 3),
                           out_type='featmap'), ['norm2.weight',
                                                 'norm2.bias']),
    'DropPosViT': ('mixmim_plugin', dict(VIT, arch='tiny'),
                   dict(out_type='avg_featmap'), ['ln2.weight', 'ln2.bias']),
    'MixMIMViT': ('mixmim_plugin', VIT,
                  dict(img_size=96,
                       out_type='avg_featmap'), ['ln2.weight', 'ln2.bias']),
    # (mmpretrain's Swin resizes bias tables with scipy's interp2d, which
    # SciPy 1.14 removed: same window)
    'MixMIMSwin': ('mixmim_plugin', MMPRETRAIN_SWIN,
                   dict(img_size=96,
                        out_indices=(0, 1)), ['norm0.weight', 'norm0.bias']),
    'MoBYSwinTransformer':
    ('mixmim_plugin', dict(MMPRETRAIN_SWIN, norm_before_mlp='bn'),
     dict(out_indices=(0, 1)), ['norm0.weight', 'norm0.bias']),
    # mmdet's and mmseg's Swin load the relative position index as it is:
    # no other window
    'CheckedDetSwinTransformer':
    ('mmdet', MMDET_SWIN, dict(out_indices=(0, 1)),
     ['norm0.weight', 'norm0.bias']),
    'CheckedSegSwinTransformer':
    ('mmseg', MMDET_SWIN, dict(out_indices=(0, 1)),
     ['norm0.weight', 'norm0.bias']),
}
# a non-fresh tensor of each backbone
REQUIRED = {
    'MixMIMEncoder': 'norm.weight',
    'DropPosMixMIM': 'layers.1.blocks.0.attn.qkv.weight',
    'DropPosViT': 'ln1.weight',
    'MixMIMViT': 'layers.1.ffn.layers.1.weight',
    'MixMIMSwin': 'norm1.weight',
    'MoBYSwinTransformer': 'stages.0.blocks.1.norm2.bn.running_var',
    'CheckedDetSwinTransformer': 'stages.1.blocks.0.attn.w_msa.qkv.weight',
    'CheckedSegSwinTransformer': 'patch_embed.norm.weight',
}


# ------------------------------------------------------------------ helpers
def build(scope: str, cfg: dict):
    """Build ``cfg`` in ``scope``, as a config of that codebase does."""
    module = {
        'mixmim_plugin': 'mixmim_plugin.registry',
        'mmdet': 'mmdet.registry',
        'mmseg': 'mmseg.registry'
    }[scope]
    registry = importlib.import_module(module).MODELS
    with DefaultScope.overwrite_default_scope(scope):
        return registry.build(cfg)


def type_in(scope: str, name: str) -> str:
    return name if scope == 'mixmim_plugin' else f'mixmim_plugin.{name}'


def pretraining_backbone(name: str):
    """The backbone's pretraining configuration with weights distinct from
    any initialisation."""
    scope, cfg, _, _ = BACKBONES[name]
    model = build(scope, dict(cfg, type=type_in(scope, name)))
    with torch.no_grad():
        for param in model.parameters():
            param.normal_()
    return model


def pretrained_init(name: str, path) -> dict:
    """``init_cfg`` as the configs write it: mmdet's and mmseg's Swin strip
    ``backbone.`` themselves."""
    scope = BACKBONES[name][0]
    init = ConfigDict(type='Pretrained', checkpoint=str(path))
    return init if scope != 'mixmim_plugin' else dict(init, prefix='backbone.')


def downstream_backbone(name: str, path, **updates):
    scope, cfg, changes, _ = BACKBONES[name]
    return build(
        scope,
        dict(
            cfg,
            **changes,
            **updates,
            type=type_in(scope, name),
            init_cfg=pretrained_init(name, path)))


def save(tmp_path, name: str, state: dict) -> str:
    path = tmp_path / f'{name}.pth'
    torch.save({'state_dict': {
        f'backbone.{k}': v
        for k, v in state.items()
    }}, path)
    return str(path)


@contextmanager
def captured_log():
    """Messages of mmengine's current logger (INFO and up) in the block."""
    logger = MMLogger.get_current_instance()
    records, level = [], logger.level
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    logger.setLevel('INFO')
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def messages(records) -> str:
    return '\n'.join(r.getMessage() for r in records)


def init(model):
    with captured_log() as records:
        model.init_weights()
    return messages(records)


def load_script(name: str):
    return importlib.import_module(f'mixmim_tools.cli.{name}')


def assert_holds(model, state: dict, fresh=()) -> None:
    """Every tensor of ``state`` of the same shape is the model's now."""
    own = model.state_dict()
    compared = 0
    for key, value in state.items():
        if key in own and own[key].shape == value.shape:
            assert torch.equal(own[key], value), key
            compared += 1
    assert compared > len(state) // 2
    for key in fresh:
        assert key not in state and key in own


# ------------------------------------------------------ each backbone
@pytest.mark.parametrize('name', list(BACKBONES))
def test_own_checkpoint_loads_and_lists_the_fresh_tensors(tmp_path, name):
    """A checkpoint of the backbone's pretraining configuration loads into
    its downstream configuration (other input size / windows / outputs):
    the weights are the checkpoint's, resized tensors are no mismatch, the
    fresh tensors are listed in one line."""
    source = pretraining_backbone(name)
    state = source.state_dict()
    model = downstream_backbone(name, save(tmp_path, name, state))
    log = init(model)
    fresh = BACKBONES[name][3]
    assert_holds(model, state, fresh)
    line = f'load into {name}: fresh (not in a pretraining checkpoint): '
    assert line + ', '.join(fresh) in log.splitlines()
    model.init_weights()  # a second call reads nothing and fails nothing


# (checkpoint of, loaded into): every backbone gets a colliding one
COLLIDING = [
    ('DropPosViT', 'MixMIMEncoder'),
    ('MixMIMEncoder', 'DropPosViT'),
    ('DropPosViT', 'DropPosMixMIM'),
    ('MixMIMSwin', 'MixMIMViT'),
    ('MixMIMViT', 'MixMIMSwin'),
    ('MixMIMEncoder', 'MoBYSwinTransformer'),
    ('MixMIMEncoder', 'CheckedDetSwinTransformer'),
    ('DropPosViT', 'CheckedSegSwinTransformer'),
]


@pytest.mark.parametrize('source,target', COLLIDING)
def test_another_models_checkpoint_is_an_error(tmp_path, source, target):
    """Colliding key names (``patch_embed.projection.*``) do not make
    another model's checkpoint load: the error names the file, the first
    mismatched key with both shapes, and the fix."""
    state = pretraining_backbone(source).state_dict()
    path = save(tmp_path, source, state)
    model = downstream_backbone(target, path)
    key = 'patch_embed.projection.weight'
    theirs = tuple(state[key].shape)
    ours = tuple(model.state_dict()[key].shape)
    assert theirs != ours
    with pytest.raises(CheckpointMismatchError) as error:
        model.init_weights()
    message = str(error.value)
    assert path in message and f'does not fit {target}' in message
    assert f'{key}: checkpoint {theirs}, model {ours}' in message
    assert 'missing encoder tensor(s)' in message and 'Likely fix' in message


@pytest.mark.parametrize('name', list(REQUIRED))
def test_a_missing_tensor_that_is_not_fresh_is_an_error(tmp_path, name):
    state = pretraining_backbone(name).state_dict()
    key = REQUIRED[name]
    shape = tuple(state.pop(key).shape)
    model = downstream_backbone(name, save(tmp_path, name, state))
    with pytest.raises(
            CheckpointMismatchError,
            match=rf'1 missing encoder tensor\(s\) \(not fresh\): '
            rf'{re.escape(key)} \({shape[0]},'):
        model.init_weights()


def test_a_resized_tensor_must_keep_its_channels(tmp_path):
    """Bias tables are resized on load, but not to another number of
    heads."""
    state = pretraining_backbone('MixMIMEncoder').state_dict()
    key = 'layers.1.blocks.0.attn.relative_position_bias_table'
    state[key] = torch.zeros(49, 3)
    model = downstream_backbone('MixMIMEncoder', save(tmp_path, 'heads',
                                                      state))
    with pytest.raises(
            CheckpointMismatchError,
            match=rf'{key}: checkpoint \(49, 3\), model \(121, 2\)'):
        model.init_weights()


def test_unused_tensors_are_counted_and_tokens_kept(tmp_path):
    """Extra tensors (a decoder's) only count in the log; a full DropPos
    checkpoint's pretraining-only token is loaded, not redrawn."""
    source = pretraining_backbone('DropPosViT')
    state = dict(source.state_dict())
    state['decoder.weight'] = torch.zeros(3)
    model = downstream_backbone('DropPosViT', save(tmp_path, 'extra', state))
    log = init(model)
    assert "1 unused checkpoint tensor(s) in " in log
    assert log.endswith(": decoder.weight") or ': decoder.weight\n' in log
    assert torch.equal(model.mask_pos_token, source.mask_pos_token)
    assert torch.equal(model.cls_token, source.cls_token)


def test_no_pretrained_init_cfg_keeps_the_random_init():
    scope, cfg, _, _ = BACKBONES['MixMIMEncoder']
    model = build(scope, dict(cfg, type='MixMIMEncoder'))
    log = init(model)
    assert 'fresh (not in' not in log
    qkv = model.layers[0].blocks[0].attn.qkv
    assert torch.all(qkv.bias == 0) and qkv.weight.std() > 0


def test_no_shared_tensor_keeps_the_existing_error(tmp_path):
    path = save(tmp_path, 'resnet', {'conv1.weight': torch.zeros(1)})
    model = downstream_backbone('MixMIMViT', path)
    with pytest.raises(KeyError, match="holds none of MixMIMViT's weights"):
        model.init_weights()


# ------------------------------------------------------------ converters
@pytest.mark.parametrize(
    'config,backbone,wrong', [
        ('configs/mixmim/mixmim-tiny_1xb32_20e_embedded.py', DET_TINY,
         'DropPosViT'),
        ('configs/droppos/droppos-tiny_1xb32_20e_embedded.py', None,
         'MixMIMEncoder'),
    ],
    ids=['mixmim', 'droppos'])
def test_plugin2backbone_output_loads_checked(tmp_path, config, backbone,
                                              wrong):
    """The backbone-only checkpoint of a pretraining run loads into its
    downstream backbone (pretraining-only tensors listed as fresh) and is
    refused by another one."""
    cfg = Config.fromfile(osp.join(ROOT, config))
    pretrainer = build('mixmim_plugin', cfg.model)
    with torch.no_grad():
        for param in pretrainer.parameters():
            param.normal_()
    src, dst = tmp_path / 'pretrain.pth', tmp_path / 'backbone.pth'
    torch.save({'state_dict': pretrainer.state_dict()}, src)
    assert load_script('plugin2backbone').main([str(src), str(dst)]) == 0
    state = to_backbone({'state_dict': pretrainer.state_dict()})
    state = {k[len('backbone.'):]: v for k, v in state.items()}

    if backbone is None:  # DropPos: its ViT, pooled for classification
        target = dict(cfg.model.backbone, out_type='avg_featmap')
        fresh = 'mask_pos_token, ln2.weight, ln2.bias'
    else:  # MixMIM: the dense backbone of the tiny Mask R-CNN
        target = Config.fromfile(backbone).model.backbone.to_dict()
        target['type'] = 'MixMIMEncoder'
        fresh = ', '.join(f'norm{i}.{p}' for i in range(3)
                          for p in ('weight', 'bias'))
    target['init_cfg'] = dict(
        type='Pretrained', checkpoint=str(dst), prefix='backbone.')
    model = build('mixmim_plugin', target)
    log = init(model)
    assert_holds(model, state)
    assert f'fresh (not in a pretraining checkpoint): {fresh}' in log

    other = downstream_backbone(wrong, dst)
    with pytest.raises(CheckpointMismatchError, match=re.escape(str(dst))):
        other.init_weights()


def test_moby2swin_output_loads_checked(tmp_path):
    """moby2swin.py's output loads into the checked mmdet and mmseg Swins;
    a MoBY checkpoint with BatchNorm before the MLP, which mmdet's Swin
    would load leaving every ``norm2`` random, is refused."""
    online = pretraining_backbone('CheckedDetSwinTransformer')
    src, dst = tmp_path / 'moby.pth', tmp_path / 'swin.pth'
    torch.save(
        {
            'state_dict': {
                **{
                    f'backbone.{k}': v
                    for k, v in online.state_dict().items()
                },
                'neck.mlp.0.weight': torch.zeros(2),
            }
        }, src)
    assert load_script('moby2swin').main([str(src), str(dst)]) == 0
    for name in ('CheckedDetSwinTransformer', 'CheckedSegSwinTransformer'):
        model = downstream_backbone(name, dst)
        log = init(model)
        assert_holds(model, online.state_dict())
        assert 'fresh (not in a pretraining checkpoint): norm0.weight' in log

    bn = pretraining_backbone('MoBYSwinTransformer')
    path = save(tmp_path, 'moby-bn', bn.state_dict())
    with pytest.raises(
            CheckpointMismatchError,
            match=r'(?s)missing.*stages.0.blocks.0.norm2.weight'):
        downstream_backbone('CheckedDetSwinTransformer', path).init_weights()


# ------------------------------------------------------- mmdet / mmseg
@pytest.mark.parametrize(
    'config', [DET_TINY, SEG_TINY], ids=['mask-rcnn', 'upernet'])
def test_detector_and_segmentor_init_raise_the_error(tmp_path, config):
    """The defect: a DropPos ViT checkpoint given to the MixMIM backbone of
    a Mask R-CNN / UPerNet config. The detector's (segmentor's) own
    init_weights now raises instead of training a random backbone."""
    state = pretraining_backbone('DropPosViT').state_dict()
    cfg = Config.fromfile(config)
    cfg.model.backbone.init_cfg = dict(
        type='Pretrained',
        checkpoint=save(tmp_path, 'droppos', state),
        prefix='backbone.')
    model = build(cfg.default_scope, cfg.model)
    with pytest.raises(
            CheckpointMismatchError,
            match=r'patch_embed.projection.weight: checkpoint '
            r'\(64, 3, 16, 16\), model \(64, 3, 4, 4\)'):
        model.init_weights()


@pytest.mark.parametrize(
    'config,backbone', [(MOBY_DET, 'CheckedDetSwinTransformer'),
                        (MOBY_SEG, 'CheckedSegSwinTransformer')],
    ids=['mask-rcnn', 'upernet'])
def test_moby_benchmarks_with_the_checked_swins(tmp_path, config, backbone):
    """The MoBY Mask R-CNN / UPerNet configs with the checked Swin as their
    backbone type load moby2swin.py's output through the detector's /
    segmentor's init_weights."""
    online = pretraining_backbone('CheckedDetSwinTransformer')
    src, dst = tmp_path / 'moby.pth', tmp_path / 'swin.pth'
    torch.save(
        {
            'state_dict': {
                f'backbone.{k}': v
                for k, v in online.state_dict().items()
            }
        }, src)
    assert load_script('moby2swin').main([str(src), str(dst)]) == 0
    cfg = Config.fromfile(config)
    cfg.model.backbone.update(  # init only, no forward: heads stay as they are
        MMDET_SWIN,
        type=f'mixmim_plugin.{backbone}',
        out_indices=(0, 1),
        init_cfg=dict(type='Pretrained', checkpoint=str(dst)))
    model = build(cfg.default_scope, cfg.model)
    log = init(model)
    assert_holds(model.backbone, online.state_dict())
    assert 'fresh (not in a pretraining checkpoint): norm0.weight' in log
