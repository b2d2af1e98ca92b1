"""Transfer of the pretrained backbones: the simple feature pyramid, layer
decay for detectors and segmentors, the MoBY/Swin converter, pretrained
loading through mmdet and mmseg, and the benchmark scripts."""
import importlib
import logging
import os
import os.path as osp
import subprocess
import sys
from contextlib import contextmanager

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

from mixmim_plugin.converters import (LayoutError, moby_to_swin,
                                      plugin_to_authors, swin_arch)
from mixmim_plugin.registry import MODELS
from mixmim_tools.cli import mixmim2plugin, moby2swin

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
BENCH = osp.join(ROOT, 'configs', 'mixmim', 'benchmarks')
DET_TINY = osp.join(BENCH, 'mask-rcnn_mixmim-tiny_fpn_1xb4-1e_embedded.py')
SEG_TINY = osp.join(BENCH, 'upernet_mixmim-tiny_1xb4-20i_embedded.py')
PRETRAIN_TINY = osp.join(ROOT, 'configs', 'mixmim',
                         'mixmim-tiny_1xb32_20e_embedded.py')


# ------------------------------------------------------------------ helpers
def registry_of(scope):
    module = {
        'mmdet': 'mmdet.registry',
        'mmseg': 'mmseg.registry',
        'mixmim_plugin': 'mixmim_plugin.registry'
    }[scope]
    return importlib.import_module(module).MODELS


@contextmanager
def captured_log():
    """Messages logged by mmengine's current logger inside the block (at
    INFO and above, whatever level an earlier test left it at)."""
    logger = MMLogger.get_current_instance()
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel('INFO')
    try:
        yield records
    finally:
        logger.setLevel(level)
        logger.removeHandler(handler)


def quiet_init(model):
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel('ERROR')  # init_weights logs a table per parameter
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)
    return model


def build_model(cfg, init=True):
    """Build ``cfg.model`` in the config's own scope."""
    scope = cfg.default_scope
    with DefaultScope.overwrite_default_scope(scope):
        model = registry_of(scope).build(cfg.model)
    return quiet_init(model) if init else model


def tiny_config(path, checkpoint=None, prefix='backbone.'):
    cfg = Config.fromfile(path)
    cfg.model.backbone.init_cfg = None if checkpoint is None else dict(
        type='Pretrained', checkpoint=str(checkpoint), prefix=prefix)
    return cfg


def tiny_pretraining_state():
    """The state dict of the demo's tiny MixMIM pretrainer (random)."""
    cfg = Config.fromfile(PRETRAIN_TINY)
    with DefaultScope.overwrite_default_scope('mixmim_plugin'):
        model = MODELS.build(cfg.model)
    return quiet_init(model).state_dict()


# ------------------------------------------------------ simple pyramid
def sfp(scope='mmdet', **kwargs):
    cfg = dict(
        type='mixmim_plugin.SimpleFeaturePyramid',
        in_channels=32,
        out_channels=16,
        **kwargs)
    with DefaultScope.overwrite_default_scope(scope):
        return registry_of(scope).build(cfg)


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg'])
def test_simple_feature_pyramid_levels(scope):
    """Strides 4..64 from a stride-16 map; LN2d resolves from any scope."""
    neck = sfp(scope)
    outs = neck((torch.randn(2, 32, 6, 5), torch.randn(2, 32, 12, 10)))
    assert [tuple(o.shape) for o in outs] == [(2, 16, 48, 40), (2, 16, 24, 20),
                                              (2, 16, 12, 10), (2, 16, 6, 5),
                                              (2, 16, 3, 3)]
    assert type(neck.projections[0][0].norm).__name__ == 'LayerNorm2d'
    outs[0].sum().backward()
    assert neck.rescales[0][0].weight.grad is not None


def test_simple_feature_pyramid_subsets_and_errors():
    neck = sfp(
        scale_factors=(2.0, 1.0),
        num_outs=2,
        in_index=0,
        norm_cfg=dict(type='GN', num_groups=4))
    outs = neck([torch.randn(1, 32, 4, 4), torch.randn(1, 32, 2, 2)])
    assert [o.shape[-1] for o in outs] == [8, 4]
    with pytest.raises(ValueError, match='scale_factors must be'):
        sfp(scale_factors=(3.0, ))
    with pytest.raises(ValueError, match='num_outs 2 is smaller'):
        sfp(num_outs=2)
    with pytest.raises(IndexError, match='in_index 3 is out of range'):
        sfp(in_index=3)([torch.randn(1, 32, 4, 4)])
    with pytest.raises(ValueError, match="out_type='featmap'"):
        sfp()([torch.randn(1, 32)])  # a ViT left at out_type='cls_token'
    with pytest.raises(KeyError, match='unknown norm type'):
        sfp(norm_cfg=dict(type='NoSuchNorm'))


# ------------------------------------------------------ layer decay
def optimizer_groups(cfg, model):
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    groups = {g['param_name']: g for g in wrapper.optimizer.param_groups}
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert set(groups) == trainable  # every parameter exactly once
    return groups


@pytest.mark.parametrize('path', [DET_TINY, SEG_TINY])
def test_layer_decay_for_mixmim_detector_and_segmentor(path):
    """Depths of the tiny MixMIM (depths 1-1-3-1: 8 depths): stem 0, block
    j of stage i at sum(depths[:i]) + j + 1, patch merging with the last
    block before it, fresh output norms at 6; all else at full lr."""
    cfg = tiny_config(path)
    groups = optimizer_groups(cfg, build_model(cfg))
    rate, top = 0.8, 7
    expected = {
        'backbone.patch_embed.projection.weight': 0,
        'backbone.layers.0.blocks.0.attn.qkv.weight': 1,
        'backbone.layers.0.downsample.reduction.weight': 1,
        'backbone.layers.2.blocks.1.attn.relative_position_bias_table': 4,
        'backbone.layers.3.blocks.0.ffn.layers.1.weight': 6,
        'backbone.norm0.weight': 6,
        'backbone.norm.weight': 6,
    }
    if 'mask-rcnn' in path:
        heads = ('neck.fpn_convs.0.conv.weight', 'rpn_head.rpn_conv.weight',
                 'roi_head.mask_head.conv_logits.weight')
    else:
        heads = ('decode_head.conv_seg.weight',
                 'auxiliary_head.conv_seg.weight')
    expected.update(dict.fromkeys(heads, top))
    for name, depth in expected.items():
        assert groups[name]['lr_scale'] == pytest.approx(rate**(top - depth))
        assert groups[name]['lr'] == pytest.approx(2e-4 * rate**(top - depth))
    assert groups['backbone.norm0.weight']['weight_decay'] == 0.0
    assert groups['backbone.layers.0.blocks.0.attn.qkv.weight'][
        'weight_decay'] == 0.05


def test_layer_decay_for_vit_segmentor():
    """mmpretrain's ViT in the MAE UPerNet config: 4 layers -> 6 depths."""
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs', 'mae', 'benchmarks',
                 'upernet_vit-b-p16_8xb2-160k_ade20k-512x512.py'))
    cfg.model.backbone.update(
        arch=dict(
            embed_dims=32, num_layers=4, num_heads=2, feedforward_channels=64),
        img_size=64,
        out_indices=(0, 1, 2, 3),
        init_cfg=None)
    cfg.model.neck.embed_dim = 32
    cfg.model.decode_head.update(in_channels=[32] * 4, channels=32)
    cfg.model.auxiliary_head.update(in_channels=32, channels=16)
    cfg.optim_wrapper.type = 'OptimWrapper'  # AmpOptimWrapper needs a GPU
    groups = optimizer_groups(cfg, build_model(cfg))
    for name, depth in [('backbone.pos_embed', 0), ('backbone.cls_token', 0),
                        ('backbone.layers.0.attn.qkv.weight', 1),
                        ('backbone.layers.3.ffn.layers.1.weight', 4),
                        ('neck.upsample_4x.0.weight', 5),
                        ('decode_head.conv_seg.weight', 5)]:
        assert groups[name]['lr_scale'] == pytest.approx(0.65**(5 - depth))
    assert groups['backbone.pos_embed']['weight_decay'] == 0.0


def test_toolbox_constructors_do_not_serve_a_detector():
    """Why the plugin has its own: mmpretrain's asks the whole model for
    get_layer_depth, mmdet's and mmseg's know ConvNeXt/BEiT/MAE only."""
    cfg = tiny_config(DET_TINY)
    model = build_model(cfg)
    for constructor in ('mmpretrain.LearningRateDecayOptimWrapperConstructor',
                        'mmdet.LearningRateDecayOptimizerConstructor'):
        optim = dict(
            cfg.optim_wrapper,
            constructor=constructor,
            paramwise_cfg=dict(
                layer_decay_rate=0.8, decay_rate=0.8, num_layers=6))
        with pytest.raises(NotImplementedError):
            with DefaultScope.overwrite_default_scope('mmdet'):
                build_optim_wrapper(model, optim)


def test_layer_decay_needs_a_backbone_with_depths():
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs', 'moby', 'benchmarks',
                 'mask-rcnn_swin-t-p4-w7_fpn_8xb2-1x_coco.py'))
    cfg.model.backbone.init_cfg = None
    cfg.optim_wrapper.constructor = (
        'mixmim_plugin.BackboneLayerDecayOptimWrapperConstructor')
    with pytest.raises(TypeError, match=r'has backbone \w*SwinTransformer'):
        optimizer_groups(cfg, build_model(cfg, init=False))


# ------------------------------------------------------ Swin converter
SWIN = dict(
    embed_dims=32,
    depths=(1, 1, 2, 1),
    num_heads=(1, 2, 4, 8),
    window_size=7,
    out_indices=(3, ))


def mmdet_swin(**kwargs):
    from mmdet.models.backbones import SwinTransformer
    torch.manual_seed(len(kwargs))
    model = SwinTransformer(**dict(SWIN, **kwargs))
    with torch.no_grad():
        for param in model.parameters():
            param.normal_(0, 0.05)
    model.eval()  # mmdet's Swin.train() returns None
    return model


OFFICIAL_NAMES = [('stages.', 'layers.'), ('attn.w_msa.', 'attn.'),
                  ('ffn.layers.0.0.', 'mlp.fc1.'),
                  ('ffn.layers.1.', 'mlp.fc2.'),
                  ('patch_embed.projection', 'patch_embed.proj'),
                  ('norm3.', 'norm.')]
TIMM_ORDER = [0, 2, 1, 3]  # its own inverse


def to_official(state):
    """The inverse of mmdet's swin_converter: mmcv Swin keys -> official
    (Microsoft / MoBY authors') keys, with timm's patch-merging order,
    ``attn_mask`` buffers and a classifier head as in real files."""
    out = {}
    for key, value in state.items():
        if key.startswith('norm') and not key.startswith('norm3.'):
            continue
        new = key
        for mmcv_name, official_name in OFFICIAL_NAMES:
            new = new.replace(mmcv_name, official_name)
        if 'downsample.reduction' in key:
            o, i = value.shape
            value = value.reshape(o, i // 4, 4).transpose(1, 2)
            value = value[:, TIMM_ORDER].reshape(o, i)
        elif 'downsample.norm' in key:
            i = value.shape[0]
            value = value.reshape(i // 4, 4).T[TIMM_ORDER].reshape(i)
        out[new] = value
        if key.endswith('blocks.1.norm1.weight'):
            out[new.replace('norm1.weight', 'attn_mask')] = torch.zeros(4)
    out['head.weight'] = torch.zeros(10, 256)
    return out


def prefixed(prefix, state):
    return {prefix + k: v for k, v in state.items()}


def features(model, x):
    with torch.no_grad():
        return model(x)


@pytest.mark.parametrize('layout', ['plugin', 'authors', 'official'])
def test_moby_to_swin_layouts(layout):
    """Each layout converts to a state dict that loads strictly into mmdet's
    and mmseg's Swin and computes the source encoder's features."""
    from mmseg.models.backbones import SwinTransformer as MMSegSwin
    online, target = mmdet_swin(), mmdet_swin(drop_rate=0.)
    if layout == 'plugin':
        state = prefixed('backbone.', online.state_dict())
        state.update(prefixed('target.module.0.', target.state_dict()))
        state.update({
            'neck.mlp.0.weight': torch.zeros(2),
            'target.module.1.mlp.0.weight': torch.zeros(2),
            'queues': torch.zeros(2, 4, 8)
        })
        checkpoint = {'meta': {}, 'state_dict': state}
    elif layout == 'authors':
        state = prefixed('encoder.', to_official(online.state_dict()))
        state.update(prefixed('encoder_k.', to_official(target.state_dict())))
        state.update({
            'projector.linear1.weight': torch.zeros(2),
            'queue1': torch.zeros(4, 8)
        })
        checkpoint = {'model': state, 'epoch': 3}
    else:
        checkpoint = to_official(online.state_dict())
    branches = ['online', 'target'] if layout != 'official' else ['online']
    x = torch.randn(1, 3, 96, 96)
    for branch in branches:
        source = online if branch == 'online' else target
        state = moby_to_swin(checkpoint, branch)
        assert all(k.startswith('backbone.') for k in state)
        assert not any(k.endswith('attn_mask') for k in state)
        bare = {k[len('backbone.'):]: v for k, v in state.items()}
        assert swin_arch(bare)['depths'] == SWIN['depths']
        for model in (mmdet_swin(), MMSegSwin(**SWIN)):
            model.load_state_dict(bare, strict=True)
            model.eval()
            torch.testing.assert_close(
                features(model, x)[0],
                features(source, x)[0])


def test_moby_to_swin_errors():
    plugin = prefixed('backbone.', mmdet_swin().state_dict())
    with pytest.raises(LayoutError, match='no target Swin encoder'):
        moby_to_swin(plugin, 'target')
    with pytest.raises(ValueError, match='branch must be one of'):
        moby_to_swin(plugin, 'momentum')
    with pytest.raises(LayoutError, match='not a Swin Transformer'):
        moby_to_swin({
            'backbone.layers.0.ln1.weight': torch.zeros(2),
            'backbone.patch_embed.projection.weight': torch.zeros(2)
        })
    bn = dict(plugin)
    bn['backbone.stages.0.blocks.0.norm2.bn.running_mean'] = torch.zeros(32)
    with pytest.raises(LayoutError, match='BatchNorm before the MLP'):
        moby_to_swin(bn)
    partial = dict(plugin)
    del partial['backbone.stages.2.blocks.1.ffn.layers.1.weight']
    with pytest.raises(LayoutError, match=r'missing \[.stages.2.blocks.1'):
        moby_to_swin(partial)


def test_moby2swin_script(tmp_path, capsys):
    script = moby2swin
    online = mmdet_swin()
    src, dst = tmp_path / 'moby.pth', tmp_path / 'out' / 'swin.pth'
    torch.save({'state_dict': prefixed('backbone.', online.state_dict())}, src)
    assert script.main([str(src), str(dst)]) == 0
    saved = torch.load(dst, map_location='cpu')
    assert saved['meta']['branch'] == 'online'
    assert 'backbone.norm3.weight' in saved['state_dict']
    assert script.main([str(src), str(dst), '--branch', 'target']) == 2
    assert 'no target Swin encoder' in capsys.readouterr().err


# ------------------------------------------- pretrained loading (mmdet/mmseg)
def test_plugin_pretraining_checkpoint_into_mask_rcnn(tmp_path):
    """A MixMIM pretraining checkpoint loads into the backbone of a Mask
    R-CNN built in the mmdet scope; the fresh output norms are reported as
    missing, the decoder is not loaded."""
    state = tiny_pretraining_state()
    path = tmp_path / 'pretrain.pth'
    torch.save({'state_dict': state}, path)
    cfg = tiny_config(DET_TINY, path)
    with captured_log() as records:
        model = build_model(cfg, init=False)
        model.init_weights()
    key = 'layers.2.blocks.1.attn.qkv.weight'
    torch.testing.assert_close(model.backbone.state_dict()[key],
                               state['backbone.' + key])
    log = '\n'.join(r.getMessage() for r in records)
    assert 'missing keys in source state_dict: norm0.weight' in log
    assert 'unexpected key' not in log
    x = torch.randn(1, 3, 96, 136)  # any size: maps are padded to windows
    with torch.no_grad():
        outs = model.extract_feat(x)
    assert [tuple(o.shape[-2:]) for o in outs] == [(24, 34), (12, 17), (6, 9),
                                                   (3, 5), (2, 3)]


def test_converted_authors_checkpoint_into_upernet(tmp_path):
    """An authors' (timm-layout) MixMIM checkpoint, converted by
    tools/model_converters/mixmim2plugin.py, loads into UPerNet (mmseg)."""
    state = tiny_pretraining_state()
    authors = tmp_path / 'authors.pth'
    converted = tmp_path / 'plugin.pth'
    torch.save({'model': plugin_to_authors(state)}, authors)
    script = mixmim2plugin
    assert script.main([str(authors), str(converted)]) == 0
    with captured_log() as records:
        model = build_model(tiny_config(SEG_TINY, converted), init=False)
        model.init_weights()
    log = '\n'.join(r.getMessage() for r in records)
    assert 'missing keys in source state_dict: norm0.weight' in log
    assert 'unexpected key' not in log
    for key in ('layers.0.downsample.reduction.weight',
                'layers.2.blocks.2.ffn.layers.0.0.weight', 'norm.weight'):
        torch.testing.assert_close(model.backbone.state_dict()[key],
                                   state['backbone.' + key])


def test_bad_checkpoints_fail_loudly_through_mmdet_and_mmseg(tmp_path):
    state = tiny_pretraining_state()
    good = tmp_path / 'good.pth'
    torch.save({'state_dict': state}, good)
    with pytest.raises(AssertionError, match='encoder. is not in'):
        build_model(tiny_config(DET_TINY, good, prefix='encoder.'))
    other = tmp_path / 'resnet.pth'
    torch.save({'state_dict': {
        'backbone.conv1.weight': torch.zeros(1)
    }}, other)
    with pytest.raises(KeyError, match='holds none of MixMIMEncoder'):
        build_model(tiny_config(SEG_TINY, other))


def test_droppos_checkpoint_into_vit_reports_its_extra_key(tmp_path):
    """mmpretrain's ViT (the ViT configs' backbone) loads a DropPos
    checkpoint and reports the pretraining-only mask_pos_token."""
    with DefaultScope.overwrite_default_scope('mixmim_plugin'):
        droppos = quiet_init(
            MODELS.build(dict(type='DropPosViT', arch='tiny', img_size=64)))
    path = tmp_path / 'droppos.pth'
    torch.save({'state_dict': prefixed('backbone.', droppos.state_dict())},
               path)
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs', 'droppos', 'benchmarks',
                 'mask-rcnn_vit-b-p16-sfp_8xb2-1x_coco.py'))
    cfg.model.backbone.update(
        arch=dict(
            embed_dims=64, num_layers=4, num_heads=4,
            feedforward_channels=256),
        img_size=64,
        out_indices=(3, ),
        init_cfg=dict(
            type='Pretrained', checkpoint=str(path), prefix='backbone.'))
    cfg.model.neck.in_channels = 64
    with captured_log() as records:
        model = build_model(cfg, init=False)
        model.init_weights()
    log = '\n'.join(r.getMessage() for r in records)
    assert 'unexpected key in source state_dict: mask_pos_token' in log
    torch.testing.assert_close(model.backbone.layers[2].attn.qkv.weight,
                               droppos.layers[2].attn.qkv.weight)
    with torch.no_grad():
        outs = model.extract_feat(torch.randn(1, 3, 80, 112))
    assert [tuple(o.shape[-2:]) for o in outs][:4] == [(20, 28), (10, 14),
                                                       (5, 7), (2, 3)]


def test_out_indices_out_of_range_through_mmdet():
    cfg = tiny_config(DET_TINY)
    cfg.model.backbone.out_indices = (0, 1, 2, 4)
    with pytest.raises(ValueError, match='out_indices entry 4 is out of'):
        build_model(cfg, init=False)


# ------------------------------------------------------ scripts
SCRIPTS = osp.join(ROOT, 'tools', 'benchmarks')


def run_script(script, *args, env=None):
    return subprocess.run(['bash', osp.join(SCRIPTS, script), *args],
                          capture_output=True,
                          text=True,
                          env=dict(os.environ, **(env or {})),
                          timeout=300)


@pytest.mark.parametrize('script', [
    'classification/dist_train.sh', 'mmdetection/mim_dist_train.sh',
    'mmsegmentation/mim_dist_train.sh'
])
def test_dist_scripts_check_their_arguments(script, tmp_path):
    done = run_script(script, 'cfg.py')
    assert done.returncode == 2 and 'usage:' in done.stderr
    done = run_script(script, 'cfg.py', str(tmp_path / 'none.pth'), '1')
    assert done.returncode == 2
    assert 'pretrained checkpoint not found' in done.stderr


@pytest.fixture
def fake_srun(tmp_path):
    """A ``srun`` on PATH that prints its arguments."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    srun = bin_dir / 'srun'
    srun.write_text('#!/usr/bin/env bash\necho "srun $*"\n')
    srun.chmod(0o755)
    return dict(PATH=f'{bin_dir}{os.pathsep}{os.environ["PATH"]}')


@pytest.mark.parametrize('script,package,config', [
    ('mmdetection/mim_slurm_train.sh', 'mmdet',
     'mask-rcnn_mixmim-b_fpn_8xb2-1x_coco.py'),
    ('mmsegmentation/mim_slurm_train.sh', 'mmseg',
     'upernet_mixmim-b_8xb2-160k_ade20k-512x512.py'),
])
def test_mim_slurm_scripts(script, package, config, fake_srun):
    env = dict(fake_srun, PYTHON=sys.executable, GPUS='16')
    done = run_script(
        script,
        'gpu',
        osp.join(BENCH, config),
        'pre.pth',
        '--work-dir',
        'wd',
        env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith('srun'))
    assert '-p gpu' in line and '--ntasks=16' in line
    assert f'{package}/.mim/tools/train.py' in line
    assert '--launcher slurm' in line
    assert 'model.backbone.init_cfg.checkpoint=pre.pth' in line
    assert line.endswith('--work-dir wd')


def test_classification_slurm_script(fake_srun):
    done = run_script(
        'classification/slurm_train.sh',
        'gpu',
        'ft',
        'cfg.py',
        'pre.pth',
        '--amp',
        env=fake_srun)
    assert done.returncode == 0, done.stderr[-2000:]
    line = done.stdout.strip().splitlines()[-1]
    assert line.startswith('srun -p gpu --job-name=ft')
    assert 'tools/train.py cfg.py --work-dir=work_dirs/ft' in line
    assert line.endswith('--launcher=slurm --cfg-options '
                         'model.backbone.init_cfg.checkpoint=pre.pth --amp')
