"""Every config under configs/*/benchmarks parses, names its scope and the
plugin import, and builds its model in that scope (mmdet's MaskRCNN, mmseg's
EncoderDecoder, mmpretrain's ImageClassifier). The large variants (L, 384,
3x schedules that repeat a 1x model) are built in the slow run only."""
import glob
import importlib
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(
    osp.relpath(p, ROOT)
    for p in glob.glob(osp.join(ROOT, 'configs', '*', 'benchmarks', '*.py')))
# built in the fast run: one model per method and task, plus the toy ones
FAST = {
    'configs/mixmim/benchmarks/mask-rcnn_mixmim-b_fpn_8xb2-1x_coco.py',
    'configs/mixmim/benchmarks/upernet_mixmim-b_8xb2-160k_ade20k-512x512.py',
    'configs/mixmim/benchmarks/mixmim-b_8xb128-ft-100e_in1k.py',
    'configs/mae/benchmarks/mask-rcnn_vit-b-p16-sfp_8xb2-1x_coco.py',
    'configs/mae/benchmarks/upernet_vit-b-p16_8xb2-160k_ade20k-512x512.py',
    'configs/moby/benchmarks/mask-rcnn_swin-t-p4-w7_fpn_8xb2-1x_coco.py',
    'configs/moby/benchmarks/upernet_swin-t-p4-w7_8xb2-160k_ade20k-512x512.py',
}
# checked, and their optimizers built, by the linear probing test
LINEAR = [
    'configs/mixmim/benchmarks/mixmim-b_8xb2048-linear-90e_in1k.py',
    'configs/mae/benchmarks/vit-b-p16_8xb2048-linear-90e_in1k.py',
]
MODEL_TYPES = {
    'mmdet': 'MaskRCNN',
    'mmseg': 'EncoderDecoder',
    'mixmim_plugin': 'ImageClassifier'
}
BACKBONES = {
    'mixmim': 'MixMIMEncoder',
    'mae': 'VisionTransformer',
    'droppos': 'VisionTransformer',
}


def expected_scope(path):
    name = osp.basename(path)
    if name.startswith('mask-rcnn'):
        return 'mmdet'
    if name.startswith('upernet'):
        return 'mmseg'
    return 'mixmim_plugin'


# mmdet's / mmseg's Swin layout (moby2swin.py output, no prefix)
TOOLBOX_SWINS = ('SwinTransformer', 'mixmim_plugin.CheckedDetSwinTransformer',
                 'mixmim_plugin.CheckedSegSwinTransformer')


def build(cfg):
    scope = cfg.default_scope
    registry = importlib.import_module(f'{scope}.registry').MODELS
    with DefaultScope.overwrite_default_scope(scope):
        return registry.build(cfg.model)


def check(path):
    cfg = Config.fromfile(osp.join(ROOT, path))
    scope = expected_scope(path)
    assert cfg.default_scope == scope
    assert cfg.custom_imports == dict(
        imports=['mixmim_plugin'], allow_failed_imports=False)
    init = cfg.model.backbone.get('init_cfg')
    assert init is not None and init['type'] == 'Pretrained', path
    if cfg.model.backbone.type not in TOOLBOX_SWINS:  # mmdet/mmseg's own
        assert init['prefix'] == 'backbone.', path
    model = build(cfg)
    assert type(model).__name__ == MODEL_TYPES[scope]
    method = path.split('/')[1]
    if method in BACKBONES:
        assert type(model.backbone).__name__ == BACKBONES[method]
    elif scope != 'mixmim_plugin':  # MoBY's dense configs: toolbox Swin
        swin = importlib.import_module(f'{scope}.models').SwinTransformer
        assert isinstance(model.backbone, swin)
    if scope != 'mixmim_plugin':  # backbone + neck on a small odd input
        model.eval()
        with torch.no_grad():
            feats = model.extract_feat(torch.randn(1, 3, 64, 96))
        assert len(feats) == (5 if scope == 'mmdet' else 4)
        assert feats[0].shape[-2:] == (16, 24)  # stride 4
    return cfg, model


@pytest.mark.parametrize('path',
                         [p for p in CONFIGS if p in FAST or 'embedded' in p])
def test_config_builds(path):
    check(path)


@pytest.mark.slow
@pytest.mark.parametrize('path', [
    p for p in CONFIGS
    if p not in FAST and p not in LINEAR and 'embedded' not in p
])
def test_large_config_builds(path):
    check(path)


def test_every_method_has_transfer_configs():
    for method in ('mixmim', 'mae', 'droppos', 'moby'):
        names = [osp.basename(p) for p in CONFIGS if f'/{method}/' in p]
        for kind in ('mask-rcnn', 'upernet', 'linear', 'ft'):
            if kind == 'ft' and method in ('mae', 'droppos'):
                kind = 'in1k'  # their fine-tuning configs are named so
            assert any(kind in n for n in names), (method, kind)
        if method != 'mixmim':
            detection = [n for n in names if n.startswith('mask-rcnn')]
            assert any('1x' in n for n in detection)
            assert any('3x' in n for n in detection)


@pytest.mark.parametrize('path', LINEAR)
def test_linear_probing_trains_the_head_only(path):
    cfg, model = check(path)
    cfg.optim_wrapper.type = 'OptimWrapper'  # AmpOptimWrapper needs a GPU
    model.train()
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel('ERROR')
    try:
        with DefaultScope.overwrite_default_scope(cfg.default_scope):
            wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    finally:
        logger.setLevel(level)
    learning = set()
    for group in wrapper.optimizer.param_groups:
        if group['lr'] > 0:
            learning |= {id(p) for p in group['params'] if p.requires_grad}
    names = [n for n, p in model.named_parameters() if id(p) in learning]
    assert names and all(n.startswith('head.') for n in names), names
