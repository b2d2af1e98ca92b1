"""The MAE baseline: configs on mmpretrain's MAE modules build, follow the
recipe, and the tiny one trains on the embedded data (slow)."""
import glob
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from mmpretrain.models import MAE, MAEPretrainDecoder, MAEPretrainHead, MAEViT

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(
    glob.glob(osp.join(REPO, 'configs/mae/**/*.py'), recursive=True))


@pytest.fixture
def skip_default_init(monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip torch's default random init of linear and conv layers while
    building: it is most of the build time of the big archs (13 s of 13.3 s
    for ViT-L on 2 busy cores) and not what these tests check."""
    for name in ('kaiming_uniform_', 'uniform_'):
        monkeypatch.setattr(torch.nn.init, name,
                            lambda tensor, *a, **k: tensor)


def _name(path: str) -> str:
    return osp.relpath(path, osp.join(REPO, 'configs'))


def test_every_expected_config_exists():
    assert {
        'mae/mae-b_8xb512_800e.py', 'mae/mae-b_8xb512_1600e.py',
        'mae/mae-tiny_1xb32_20e_embedded.py',
        'mae/benchmarks/vit-b-p16_8xb128_100e_in1k.py'
    } <= {_name(c)
          for c in CONFIGS}


def _build_model(cfg: Config):
    """Build ``cfg.model`` in the config's own scope: the plugin's for
    pretraining and classification, mmdet's or mmseg's for the dense
    transfer configs under ``benchmarks/``."""
    assert cfg.default_scope in ('mixmim_plugin', 'mmdet', 'mmseg')
    if cfg.default_scope != 'mixmim_plugin':
        assert 'mixmim_plugin' in cfg.custom_imports.imports
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        return ROOT_MODELS.build(cfg.model)


@pytest.mark.parametrize('path', CONFIGS, ids=_name)
def test_config_builds(path, skip_default_init):
    model = _build_model(Config.fromfile(path))
    if '/benchmarks/' in path:
        assert sum(p.numel() for p in model.parameters()) > 0
        return
    # mmpretrain's own MAE modules, not copies
    assert type(model) is MAE
    assert type(model.backbone) is MAEViT
    assert type(model.neck) is MAEPretrainDecoder
    assert type(model.head) is MAEPretrainHead
    assert model.backbone.mask_ratio == 0.75 and model.head.norm_pix


@pytest.mark.parametrize('epochs', [800, 1600])
def test_recipe(epochs):
    cfg = Config.fromfile(
        osp.join(REPO, f'configs/mae/mae-b_8xb512_{epochs}e.py'))
    assert cfg.train_cfg.max_epochs == epochs
    assert cfg.param_scheduler[0].end == 40
    assert cfg.param_scheduler[1].end == epochs
    assert cfg.train_dataloader.batch_size == 512
    assert cfg.auto_scale_lr.base_batch_size == 4096
    optimizer = cfg.optim_wrapper.optimizer
    assert optimizer.lr == pytest.approx(1.5e-4 * 4096 / 256)
    assert optimizer.betas == (0.9, 0.95) and optimizer.weight_decay == 0.05
    assert cfg.model.neck.decoder_depth == 8
    assert cfg.model.neck.decoder_embed_dim == 512
    crop = cfg.train_pipeline[1]
    assert crop.type == 'RandomResizedCrop' and crop.scale == 224
    assert crop.crop_ratio_range == (0.2, 1.0)


@pytest.mark.slow
def test_tiny_config_trains_on_embedded_data(embedded_data, tmp_path):
    torch.manual_seed(0)
    cfg = Config.fromfile(
        osp.join(REPO, 'configs/mae/mae-tiny_1xb32_20e_embedded.py'))
    cfg.work_dir = str(tmp_path)
    cfg.train_dataloader.update(
        batch_size=8, num_workers=0, persistent_workers=False)
    cfg.train_dataloader.dataset.update(
        data_root=embedded_data['imagenet'], indices=8 * 10)
    cfg.train_cfg.max_epochs = 1
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint.interval = 100
    runner = Runner.from_cfg(cfg)
    runner.train()
    loss = runner.message_hub.get_scalar('train/loss').data[0]
    assert len(loss) == 10 and np.isfinite(loss).all()
    assert loss[-3:].mean() < loss[:3].mean()
