"""Backbone-only checkpoints agree with how the transfer configs load them
(``init_cfg=dict(type='Pretrained', prefix='backbone.')``)."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import DefaultScope

from mixmim_plugin.converters import (LayoutError, check_backbone,
                                      save_checkpoint_file, to_backbone)
from mixmim_plugin.converters.downstream import backbone_from_config
from mixmim_plugin.registry import MODELS
from mixmim_tools.cli import plugin2backbone

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
MIXMIM = 'configs/mixmim/mixmim-tiny_1xb32_20e_embedded.py'
DROPPOS = 'configs/droppos/droppos-tiny_1xb32_20e_embedded.py'
MOBY = 'configs/moby/moby-swin-nano_1xb32_30e_embedded.py'
NANO_SWIN = dict(
    arch=dict(embed_dims=32, depths=[2, 2, 2], num_heads=[1, 2, 4]),
    img_size=64,
    window_size=4,
    out_indices=(2, ))
TINY_VIT = dict(
    arch=dict(
        embed_dims=64, num_layers=4, num_heads=4, feedforward_channels=256),
    img_size=128)


def pretrainer(config: str):
    cfg = Config.fromfile(osp.join(ROOT, config))
    with DefaultScope.overwrite_default_scope('mixmim_plugin'):
        model = MODELS.build(cfg.model)
    for param in model.parameters():  # distinct from any initialisation
        torch.nn.init.normal_(param)
    return model


def downstream_backbone(config: str, checkpoint: str, **backbone_updates):
    """``model.backbone`` of a transfer config, initialised from
    ``checkpoint`` by its own ``init_cfg``."""
    cfg = Config.fromfile(osp.join(ROOT, config))
    cfg.model.backbone.update(backbone_updates)
    cfg.model.backbone.init_cfg.checkpoint = checkpoint
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        backbone = ROOT_MODELS.build(cfg.model.backbone)
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel('ERROR')
    try:
        backbone.init_weights()
    finally:
        logger.setLevel(level)
    return backbone


def assert_loaded(backbone, state, skip=()):
    own = backbone.state_dict()
    for key, value in state.items():
        name = key[len('backbone.'):]
        if name in skip:
            continue
        assert torch.equal(own[name], value), name


@pytest.mark.parametrize('config', [
    'configs/mixmim/benchmarks/mask-rcnn_mixmim-tiny_fpn_1xb4-1e_embedded.py',
    'configs/mixmim/benchmarks/upernet_mixmim-tiny_1xb4-20i_embedded.py',
    'configs/mixmim/benchmarks/mixmim-tiny_1xb32-ft-2e_embedded.py',
])
def test_mixmim_backbone_loads_in_the_transfer_configs(tmp_path, config):
    state = to_backbone({'state_dict': pretrainer(MIXMIM).state_dict()})
    assert state and all(k.startswith('backbone.') for k in state)
    path = save_checkpoint_file(state, str(tmp_path / 'backbone.pth'))
    backbone = downstream_backbone(config, path)
    assert_loaded(backbone, state)
    report = check_backbone(state, backbone)
    assert not report.unexpected
    # the dense configs add an output norm per extra stage
    assert all(
        k.startswith(('norm0.', 'norm1.', 'norm2.')) for k in report.missing)


def test_moby_online_and_target_encoders(tmp_path):
    model = pretrainer(MOBY)
    full = model.state_dict()
    for branch, prefix in (('online', 'backbone.'), ('target',
                                                     'target.module.0.')):
        state = to_backbone(full, branch)
        source = {k for k in full if k.startswith(prefix)}
        assert len(state) == len(source)
        path = save_checkpoint_file(state, str(tmp_path / f'{branch}.pth'))
        backbone = downstream_backbone(
            'configs/moby/benchmarks/swin-t_8xb64-linear-coslr-100e_in1k.py',
            path, **NANO_SWIN)
        assert_loaded(backbone, state)
        report = check_backbone(state, backbone)
        assert not report.missing and not report.unexpected
    assert not torch.equal(
        to_backbone(full, 'online')['backbone.norm2.weight'],
        to_backbone(full, 'target')['backbone.norm2.weight'])


@pytest.mark.parametrize('config,updates', [
    ('configs/droppos/benchmarks/vit-b-p16_8xb2048-linear-90e_in1k.py',
     dict(frozen_stages=4)),
    ('configs/droppos/benchmarks/mask-rcnn_vit-b-p16-sfp_8xb2-1x_coco.py',
     dict(out_indices=(3, ))),
])
def test_droppos_pretraining_only_parameters_are_dropped(
        tmp_path, config, updates):
    full = pretrainer(DROPPOS).state_dict()
    state = to_backbone(full)
    assert 'backbone.mask_pos_token' in full
    assert 'backbone.mask_pos_token' not in state
    assert not any(k.startswith(('neck.', 'head.')) for k in state)
    path = save_checkpoint_file(state, str(tmp_path / 'vit.pth'))
    backbone = downstream_backbone(config, path, **updates, **TINY_VIT)
    assert_loaded(backbone, state)
    assert not check_backbone(state, backbone).unexpected


def test_check_backbone_rejects_what_does_not_fit():
    state = to_backbone(pretrainer(MIXMIM).state_dict())
    cfg = Config.fromfile(osp.join(ROOT, MOBY))
    cfg.model.backbone.update(NANO_SWIN)
    swin = backbone_from_config(cfg)
    with pytest.raises(
            LayoutError,
            match='(?s)does not fit SwinTransformer.*'
            'size mismatch for patch_embed'):
        check_backbone(state, swin)
    with pytest.raises(LayoutError, match="none of SwinTransformer's"):
        check_backbone({'backbone.cls_token': torch.zeros(1, 1, 32)}, swin)
    small = Config.fromfile(osp.join(ROOT, MIXMIM))
    small.model.backbone.arch = dict(
        embed_dims=32, depths=[2, 2, 2, 2], num_heads=[1, 2, 4, 8])
    with pytest.raises(LayoutError, match='does not fit MixMIMEncoder'):
        check_backbone(state, backbone_from_config(small))
    with pytest.raises(LayoutError, match=r'no target\.module\.0\.\* keys'):
        to_backbone(state, 'target')
    with pytest.raises(LayoutError, match=r'no backbone\.\* keys'):
        to_backbone({'neck.weight': torch.zeros(1)})


def test_plugin2backbone_script(tmp_path, capsys):
    tool = plugin2backbone
    src = tmp_path / 'mixmim.pth'
    torch.save({'state_dict': pretrainer(MIXMIM).state_dict()}, src)
    dst = tmp_path / 'backbone.pth'
    ft = osp.join(
        ROOT, 'configs/mixmim/benchmarks/mixmim-tiny_1xb32-ft-2e_embedded.py')
    dense = osp.join(
        ROOT, 'configs/mixmim/benchmarks/'
        'mask-rcnn_mixmim-tiny_fpn_1xb4-1e_embedded.py')
    assert tool.main([str(src),
                      str(dst), '--check-config', ft, '--strict']) == 0
    assert dst.exists()
    assert tool.main([
        str(src),
        str(tmp_path / 'x.pth'), '--check-config', dense, '--strict'
    ]) == 1
    assert 'left at initialisation (6)' in capsys.readouterr().out
    moby = osp.join(ROOT, MOBY)
    assert tool.main(
        [str(src), str(tmp_path / 'y.pth'), '--check-config', moby]) == 2
    assert 'does not fit SwinTransformer' in capsys.readouterr().err
    assert not (tmp_path / 'y.pth').exists()
