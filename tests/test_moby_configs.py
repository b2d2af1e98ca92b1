"""Every MoBY config builds; the recipes match the reference; the two-view
pipelines run on an image."""
import glob
import os.path as osp

import numpy as np
import pytest
import torch
from mmcv.transforms import Compose
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mixmim_plugin.models import MoBY
from mixmim_plugin.models.utils import PortableSyncBatchNorm
from mixmim_plugin.registry import MODELS, TRANSFORMS

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(
    glob.glob(osp.join(ROOT, 'configs', 'moby', '**', '*.py'), recursive=True))
PRETRAIN = [c for c in CONFIGS if '/benchmarks/' not in c]
BENCHMARKS = [c for c in CONFIGS if '/benchmarks/' in c]
IN1K = [c for c in BENCHMARKS if c.endswith('_in1k.py')]


def name(path: str) -> str:
    return osp.relpath(path, osp.join(ROOT, 'configs', 'moby'))


def test_the_expected_configs_exist():
    assert {name(c)
            for c in PRETRAIN} == {
                'moby-swin-t_8xb64_100e.py', 'moby-swin-t_8xb64_300e.py',
                'moby-deit-s_8xb64_300e.py', 'moby-swin-t-bn_8xb64_100e.py',
                'moby-swin-nano_1xb32_30e_embedded.py'
            }
    assert {name(c)
            for c in IN1K} == {
                'benchmarks/swin-t_8xb64-linear-coslr-100e_in1k.py',
                'benchmarks/swin-t-bn_8xb64-linear-coslr-100e_in1k.py',
                'benchmarks/deit-s_8xb64-linear-coslr-100e_in1k.py',
                'benchmarks/swin-t_16xb64-ft-300e_in1k.py',
                'benchmarks/deit-s_4xb256-ft-300e_in1k.py'
            }


def build_model(cfg: Config):
    """Build ``cfg.model`` with the registry of the config's scope (the
    plugin's, or mmdet's / mmseg's for detection and segmentation)."""
    scope = cfg.get('default_scope', 'mixmim_plugin')
    if scope == 'mmdet':
        from mmdet.registry import MODELS as registry
    elif scope == 'mmseg':
        from mmseg.registry import MODELS as registry
    else:
        registry = MODELS
    with DefaultScope.overwrite_default_scope(scope):
        return registry.build(cfg.model)


@pytest.mark.parametrize('path', CONFIGS, ids=name)
def test_config_builds(path):
    cfg = Config.fromfile(path)
    model = build_model(cfg)
    assert 'Swin' in type(model.backbone).__name__ or 'Vision' in type(
        model.backbone).__name__
    if path not in PRETRAIN + IN1K:  # detection / segmentation
        return
    assert cfg.default_scope == 'mixmim_plugin'
    assert 'auto_scale_lr' in cfg
    if path in PRETRAIN:
        assert isinstance(model, MoBY)
        assert not any(
            isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
            and not isinstance(m, PortableSyncBatchNorm)
            for m in model.modules())
    else:
        assert type(model).__name__ == 'ImageClassifier'
        assert model.backbone.init_cfg['type'] == 'Pretrained'
        assert model.backbone.init_cfg['prefix'] == 'backbone.'
        model.train()  # mmpretrain's Swin freezes its stages in train()
        frozen = not any(p.requires_grad for p in model.backbone.parameters())
        assert frozen == ('-linear-' in path)
        assert all(p.requires_grad for p in model.head.parameters())


# name: (encoder, epochs, feature channels)
RECIPES = {
    'moby-swin-t_8xb64_100e.py': ('SwinTransformer', 100, 768),
    'moby-swin-t_8xb64_300e.py': ('SwinTransformer', 300, 768),
    'moby-deit-s_8xb64_300e.py': ('VisionTransformer', 300, 384),
    'moby-swin-t-bn_8xb64_100e.py': ('MoBYSwinTransformer', 100, 768),
}


@pytest.mark.parametrize('config', sorted(RECIPES))
def test_pretrain_recipe(config):
    encoder, epochs, channels = RECIPES[config]
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'moby', config))
    model = cfg.model
    assert model.backbone.type == encoder
    assert (model.online_drop_path_rate, model.target_drop_path_rate) == (0.2,
                                                                          0.0)
    assert (model.queue_len, model.feat_dim) == (4096, 256)
    assert model.base_momentum == 0.99
    assert model.head.temperature == 0.2
    neck, predictor = model.neck, model.predictor
    assert (neck.in_channels, neck.hid_channels,
            neck.out_channels) == (channels, 4096, 256)
    assert (predictor.in_channels, predictor.hid_channels,
            predictor.out_channels) == (256, 4096, 256)
    for mlp in (neck, predictor):
        assert mlp.num_layers == 2 and not mlp.with_last_bn
    optimizer = cfg.optim_wrapper.optimizer
    assert optimizer.type == 'AdamW' and optimizer.lr == 1e-3
    assert tuple(optimizer.betas) == (0.9, 0.999)
    assert optimizer.weight_decay == 0.05
    assert cfg.optim_wrapper.paramwise_cfg.flat_decay_mult == 0.0
    gpus, batch = 8, cfg.train_dataloader.batch_size
    assert gpus * batch == cfg.auto_scale_lr.base_batch_size == 512
    assert cfg.train_cfg.max_epochs == epochs
    warmup, cosine = cfg.param_scheduler
    assert warmup.end == 5 and cosine.begin == 5 and cosine.end == epochs
    assert cfg.train_dataloader.drop_last
    assert {
        'data_src': 'momentum',
        'method_name': 'current'
    } in [dict(c) for c in cfg.log_processor.custom_cfg]


def test_view_pipelines_are_the_byol_set():
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs', 'moby', 'moby-swin-t_8xb64_100e.py'))
    multiview = cfg.train_pipeline[1]
    assert multiview.type == 'MultiView' and multiview.num_views == [1, 1]
    view1, view2 = multiview.transforms

    def by_type(view):
        return {t.type: t for t in view}

    for view in (view1, view2):
        steps = by_type(view)
        assert steps['RandomResizedCrop'].crop_ratio_range == (0.08, 1.0)
        jitter = steps['RandomApply']
        assert jitter.prob == 0.8
        assert [
            jitter.transforms[0][k]
            for k in ('brightness', 'contrast', 'saturation', 'hue')
        ] == [0.4, 0.4, 0.2, 0.1]
        assert steps['RandomGrayscale'].prob == 0.2
    assert by_type(view1)['GaussianBlur'].prob == 1.0
    assert 'Solarize' not in by_type(view1)
    assert by_type(view2)['GaussianBlur'].prob == 0.1
    assert by_type(view2)['Solarize'].prob == 0.2


@pytest.mark.parametrize('path', PRETRAIN, ids=name)
def test_train_pipeline_makes_two_views(path, embedded_data):
    cfg = Config.fromfile(path)
    with DefaultScope.overwrite_default_scope('mixmim_plugin'):
        pipeline = Compose([TRANSFORMS.build(t) for t in cfg.train_pipeline])
    image = sorted(
        glob.glob(osp.join(embedded_data['imagenet'], 'train', '*', '*')))[0]
    size = cfg.train_pipeline[1].transforms[0][0].scale
    np.random.seed(0)
    for _ in range(4):
        out = pipeline(dict(img_path=image))
        assert len(out['inputs']) == 2
        assert all(v.shape == (3, size, size) for v in out['inputs'])
