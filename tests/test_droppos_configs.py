"""Every DropPos config builds and agrees with its own data pipeline; the
tiny ones train on the embedded data (slow)."""
import glob
import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from mixmim_plugin.registry import MODELS, TRANSFORMS

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(
    glob.glob(osp.join(REPO, 'configs/droppos/**/*.py'), recursive=True))
PRETRAIN = [c for c in CONFIGS if '/benchmarks/' not in c]


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
    names = {_name(c) for c in CONFIGS}
    assert {
        'droppos/droppos-b_8xb64_200e.py',
        'droppos/droppos-b_8xb64_800e.py',
        'droppos/droppos-b_8xb64_800e_fp16.py',
        'droppos/droppos-l_8xb128_800e.py',
        'droppos/droppos-mt-b_8xb64_800e.py',
        'droppos/droppos-mixmim-b_8xb128_300e.py',
        'droppos/droppos-tiny_1xb32_20e_embedded.py',
        'droppos/droppos-mixmim-tiny_1xb32_20e_embedded.py',
        'droppos/benchmarks/vit-b-p16_8xb32_100e_in1k.py',
        'droppos/benchmarks/vit-l-p16_8xb64_50e_in1k.py',
    } <= names


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
    assert sum(p.numel() for p in model.parameters()) > 0


def _mask_step(cfg):
    steps = [s for s in cfg.train_pipeline if s.type == 'DropPositionMask']
    assert len(steps) == 1
    return steps[0]


@pytest.mark.parametrize('path', PRETRAIN, ids=_name)
def test_pretraining_pipeline_matches_the_model(path):
    """The mask grid is the head's grid, the masks are packed, the batch and
    lr follow the recipe (lr = base lr x batch / 256 at the base batch)."""
    cfg = Config.fromfile(path)
    mask = _mask_step(cfg)
    side = cfg.model.backbone.img_size // mask.patch_size
    with DefaultScope.overwrite_default_scope('mixmim_plugin'):
        model = MODELS.build(cfg.model)
    assert model.head.grid == (side, side)  # derived from the backbone
    assert model.neck.num_positions == side * side
    assert cfg.train_pipeline[-1].algorithm_keys == ['patch_mask', 'pos_mask']
    assert cfg.train_dataloader.dataset.pipeline == cfg.train_pipeline
    assert any(h.type == 'DropPosSigmaHook' for h in cfg.custom_hooks)
    with DefaultScope.overwrite_default_scope('mixmim_plugin'):
        for step in cfg.train_pipeline:
            TRANSFORMS.build(step)
    if 'embedded' not in path:
        gpus, batch = osp.basename(path).split('_')[1].split('xb')
        total = int(gpus) * int(batch)
        assert cfg.train_dataloader.batch_size == int(batch)
        assert cfg.auto_scale_lr.base_batch_size == total
        assert cfg.optim_wrapper.optimizer.lr == pytest.approx(1.5e-4 * total /
                                                               256)
        assert cfg.optim_wrapper.clip_grad.max_norm == 5.0


def test_recipe_values():
    base = Config.fromfile(
        osp.join(REPO, 'configs/droppos/droppos-b_8xb64_800e.py'))
    mask = _mask_step(base)
    assert (mask.mask_ratio, mask.pos_mask_ratio) == (0.75, 0.75)
    assert base.param_scheduler[0].end == 10  # warmup epochs
    assert base.train_cfg.max_epochs == 800
    assert base.model.neck.depth == 2 and base.model.neck.embed_dims == 512
    assert base.model.head.tau == 0.1 and base.model.head.attentive
    # the authors' precision and clipping rule; AMP as a variant
    assert base.optim_wrapper.type == 'PerParamClipOptimWrapper'
    assert base.optim_wrapper.clip_grad == dict(
        type='per_param_norm', max_norm=5.0)
    amp = Config.fromfile(
        osp.join(REPO, 'configs/droppos/droppos-b_8xb64_800e_fp16.py'))
    assert amp.optim_wrapper.type == 'DeviceAmpOptimWrapper'
    assert amp.optim_wrapper.clip_grad == base.optim_wrapper.clip_grad
    assert amp.optim_wrapper.optimizer == base.optim_wrapper.optimizer
    short = Config.fromfile(
        osp.join(REPO, 'configs/droppos/droppos-b_8xb64_200e.py'))
    assert short.train_cfg.max_epochs == 200
    assert short.param_scheduler[1].end == 200
    multi = Config.fromfile(
        osp.join(REPO, 'configs/droppos/droppos-mt-b_8xb64_800e.py'))
    assert multi.model.pos_weight == 0.05
    ft = Config.fromfile(
        osp.join(REPO,
                 'configs/droppos/benchmarks/vit-b-p16_8xb32_100e_in1k.py'))
    assert ft.optim_wrapper.paramwise_cfg.layer_decay_rate == 0.75
    assert ft.model.backbone.drop_path_rate == 0.1
    assert ft.optim_wrapper.optimizer.lr == pytest.approx(1e-3)
    assert ft.train_cfg.max_epochs == 100
    assert ft.auto_scale_lr.base_batch_size == 256
    assert ft.default_scope == 'mixmim_plugin'
    augments = {a.type: a.alpha for a in ft.model.train_cfg.augments}
    assert augments == {'Mixup': 0.8, 'CutMix': 1.0}
    erasing = [s for s in ft.train_pipeline if s.type == 'RandomErasing']
    assert erasing[0].erase_prob == 0.25


def _train(config: str, data_root: str, work_dir: str, iters: int) -> Runner:
    """Train ``config`` for ``iters`` iterations of batch 8 at a constant lr
    on the embedded data and return the runner."""
    cfg = Config.fromfile(osp.join(REPO, config))
    cfg.work_dir = work_dir
    cfg.train_dataloader.update(
        batch_size=8, num_workers=0, persistent_workers=False)
    cfg.train_dataloader.dataset.update(data_root=data_root, indices=8 * iters)
    cfg.train_cfg.max_epochs = 1
    cfg.param_scheduler = []
    cfg.optim_wrapper.optimizer.lr = 1e-3
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.interval = 100
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


def _history(runner: Runner, key: str) -> np.ndarray:
    return runner.message_hub.get_scalar(f'train/{key}').data[0]


@pytest.mark.slow
@pytest.mark.parametrize('config', [
    'configs/droppos/droppos-tiny_1xb32_20e_embedded.py',
    'configs/droppos/droppos-mixmim-tiny_1xb32_20e_embedded.py'
])
def test_tiny_config_trains_on_embedded_data(config, embedded_data, tmp_path):
    torch.manual_seed(0)
    runner = _train(config, embedded_data['imagenet'], str(tmp_path), 12)
    loss = _history(runner, 'loss')
    assert len(loss) == 12 and np.isfinite(loss).all()
    assert loss[-4:].mean() < loss[:4].mean()
    accuracy = _history(runner, 'acc_pos')
    assert ((0 <= accuracy) & (accuracy <= 1)).all()
    # sigma: 1 during the single epoch, logged to the JSON log; 0 at the end
    assert (_history(runner, 'sigma') == 1.0).all()
    assert runner.model.head.sigma == 0.0
    logs = glob.glob(str(tmp_path / '*' / 'vis_data' / 'scalars.json'))
    records = [json.loads(line) for line in open(logs[0])]
    assert all({'sigma', 'acc_pos', 'loss_pos'} <= set(r) for r in records)
