"""Does pretraining teach the encoder anything? Pretrain a config for a
fixed number of iterations, then score its frozen encoder against the same
encoder at its random initialisation (the weights training started from)
by weighted k-NN and a linear probe on a labelled image folder.

Used by ``tools/analysis_tools/learning_signal.py``.
"""
import copy
import inspect
import os.path as osp
import time
import uuid
from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import RUNNERS
from mmengine.runner import Runner
from torch import Tensor, nn
from torch.utils.data import Dataset

from .configs import crop_size, train_pipeline
from .evaluation import (IMAGENET_MEAN, IMAGENET_STD, extract_features,
                         knn_accuracy, linear_probe_accuracy)


# ---------------------------------------------------------------- budget
def rescale_schedule(cfg: Config,
                     iters: int,
                     iters_per_epoch: Optional[int] = None) -> None:
    """Make ``cfg`` train for ``iters`` iterations (``IterBasedTrainLoop``,
    validating once, at the end) with its own schedule shape: every
    parameter scheduler's begin, end, ``T_max`` and ``milestones`` are
    scaled from the config's run length to ``iters`` and counted in
    iterations (schedulers left empty are dropped), and custom hooks
    stepping by epoch step by iteration. A scheduler counting iterations in
    an epoch-based loop needs ``iters_per_epoch``."""
    if iters < 1:
        raise ValueError(f'iters must be >= 1, got {iters}')
    loop = cfg.train_cfg
    by_epoch = 'max_epochs' in loop
    length = loop['max_epochs' if by_epoch else 'max_iters']
    schedulers = cfg.get('param_scheduler') or []
    if isinstance(schedulers, dict):
        schedulers = [schedulers]
    rescaled = (
        _rescale(s, _length_in_units(s, by_epoch, length, iters_per_epoch),
                 iters) for s in schedulers)
    cfg.param_scheduler = [s for s in rescaled if s is not None]
    cfg.train_cfg = dict(
        type='IterBasedTrainLoop', max_iters=iters, val_interval=iters)
    for hook in cfg.get('custom_hooks') or []:
        if hook.get('by_epoch'):
            hook['by_epoch'] = False


def _length_in_units(scheduler: dict, by_epoch: bool, length: int,
                     iters_per_epoch: Optional[int]) -> int:
    """The run's length in the units the scheduler counts."""
    if scheduler.get('by_epoch', True) == by_epoch:
        return length
    if by_epoch and iters_per_epoch:
        return length * iters_per_epoch
    unit = 'epochs' if by_epoch else 'iterations'
    raise ValueError(f'{scheduler["type"]} does not count {unit} as the '
                     'training loop does; cannot rescale it without the '
                     'iterations per epoch')


def _rescale(scheduler: dict, length: int, iters: int) -> Optional[dict]:
    scheduler = dict(scheduler)
    begin = scheduler.get('begin', 0)
    end = min(scheduler.get('end', length), length)
    new_begin, new_end = (round(x * iters / length) for x in (begin, end))
    if new_end <= new_begin:
        return None
    if 'T_max' in scheduler:
        if scheduler['T_max'] == end - begin:
            scheduler['T_max'] = new_end - new_begin
        else:
            scheduler['T_max'] = max(
                1, round(scheduler['T_max'] * iters / length))
    if 'milestones' in scheduler:
        scheduler['milestones'] = [
            round(m * iters / length) for m in scheduler['milestones']
        ]
    scheduler.pop('convert_to_iter_based', None)
    scheduler.update(begin=new_begin, end=new_end, by_epoch=False)
    return scheduler


def budget_config(cfg: Config,
                  iters: int,
                  data_root: str,
                  work_dir: str,
                  seed: int = 0,
                  num_workers: Optional[int] = None) -> Config:
    """A copy of ``cfg`` that pretrains for ``iters`` iterations on
    ``data_root`` in ``work_dir``, seeded, saving one checkpoint at the end
    (``iter_<iters>.pth``)."""
    cfg = copy.deepcopy(cfg)
    rescale_schedule(cfg, iters)
    cfg.work_dir = work_dir
    # a unique name: runners of one process must not share a message hub
    cfg.experiment_name = f'learning_signal_{uuid.uuid4().hex[:12]}'
    cfg.randomness = dict(seed=seed, deterministic=False)
    cfg.train_dataloader.dataset.data_root = data_root
    if num_workers is not None:
        cfg.train_dataloader.num_workers = num_workers
        cfg.train_dataloader.persistent_workers = num_workers > 0
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook',
        interval=iters,
        by_epoch=False,
        max_keep_ckpts=1)
    cfg.default_hooks.logger = dict(
        type='LoggerHook', interval=max(1, iters // 10))
    return cfg


def build_runner(cfg: Config) -> Runner:
    """The config's runner as ``tools/train.py`` builds it: its
    ``runner_type`` from mmengine's registry, else mmengine's Runner."""
    if cfg.get('runner_type'):
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


# -------------------------------------------------------------- pretrain
INITIAL_CHECKPOINT = 'iter_0.pth'


class _InitialBackbone(Hook):
    """Keeps a copy of the backbone as initialised, before the first
    training step, and saves the model then as ``iter_0.pth`` (the random
    initialisation transfer runs start from)."""

    def __init__(self) -> None:
        self.backbone: Optional[nn.Module] = None

    def before_train(self, runner) -> None:
        self.backbone = copy.deepcopy(_unwrap(runner.model).backbone)
        runner.save_checkpoint(
            runner.work_dir,
            INITIAL_CHECKPOINT,
            save_optimizer=False,
            save_param_scheduler=False)


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if is_model_wrapper(model) else model


@dataclass
class Pretrained:
    """The backbone before and after pretraining, the checkpoints of both,
    the wall time of the training loop and the mean loss of its first and
    last iterations."""
    initial: nn.Module
    trained: nn.Module
    initial_checkpoint: str
    checkpoint: str
    seconds: float
    first_loss: float
    last_loss: float


def last_checkpoint(cfg: Config) -> str:
    """The checkpoint :func:`budget_config`'s run ends with."""
    return osp.join(cfg.work_dir, f'iter_{cfg.train_cfg.max_iters}.pth')


def pretrain(cfg: Config) -> Pretrained:
    """Train ``cfg`` with its runner (see :func:`budget_config`)."""
    runner = build_runner(cfg)
    initial = _InitialBackbone()
    runner.register_hook(initial, priority='VERY_HIGH')
    start = time.perf_counter()
    model = runner.train()
    seconds = time.perf_counter() - start
    losses, _ = runner.message_hub.get_scalar('train/loss').data
    window = max(1, min(10, len(losses) // 4))
    return Pretrained(initial.backbone,
                      _unwrap(model).backbone,
                      osp.join(cfg.work_dir, INITIAL_CHECKPOINT),
                      last_checkpoint(cfg), seconds,
                      float(np.mean(losses[:window])),
                      float(np.mean(losses[-window:])))


# --------------------------------------------------------------- scoring
class FeatureEncoder(nn.Module):
    """A pretraining backbone as a plain feature extractor: backbones whose
    forward takes a ``mask`` (MAE-style) are called with ``mask=None``, so
    that the whole image is encoded."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        params = inspect.signature(backbone.forward).parameters
        self.unmasked = 'mask' in params

    def forward(self, inputs: Tensor):
        if self.unmasked:
            return self.backbone(inputs, mask=None)
        return self.backbone(inputs)


Normalization = Tuple[Sequence[float], Sequence[float], bool]


def normalization(cfg: Config) -> Normalization:
    """Mean, std and BGR->RGB flag of the config's data preprocessor."""
    pre = cfg.model.get('data_preprocessor') or cfg.get(
        'data_preprocessor') or {}
    return (pre.get('mean', IMAGENET_MEAN), pre.get('std', IMAGENET_STD),
            pre.get('to_rgb', True))


def input_size(cfg: Config) -> int:
    """The config's training crop size (its train pipeline's)."""
    size = crop_size(train_pipeline(cfg))
    if size is None:
        raise ValueError('no crop size in the train pipeline')
    return size


FROZEN_PROTOCOLS = ('knn', 'linear')


def score_features(train: Tuple[Tensor, Tensor],
                   val: Tuple[Tensor, Tensor],
                   protocols: Sequence[str] = FROZEN_PROTOCOLS,
                   k: int = 20,
                   probe_epochs: int = 100) -> Dict[str, float]:
    """Top-1 accuracy on ``val`` of the weighted k-NN (``'knn'``) and the
    linear probe (``'linear'``) fitted on ``train`` ((features, labels)
    pairs), for each of ``protocols``."""
    unknown = set(protocols) - set(FROZEN_PROTOCOLS)
    if unknown:
        raise ValueError(f'not a frozen-feature protocol: {sorted(unknown)}')
    scores = {}
    if 'knn' in protocols:
        scores['knn'] = knn_accuracy(*train, *val, k=min(k, train[0].shape[0]))
    if 'linear' in protocols:
        scores['linear'] = linear_probe_accuracy(
            *train, *val, epochs=probe_epochs)
    return scores


Features = Tuple[Tensor, Tensor]  # (N, C) features, (N, ) labels


def encoder_features(backbone: nn.Module, train_set: Dataset, val_set: Dataset,
                     norm: Normalization) -> Tuple[Features, Features]:
    """The frozen ``backbone``'s pooled features of both sets, to score
    with :func:`score_features`."""
    encoder = FeatureEncoder(backbone)
    mean, std, to_rgb = norm
    train, val = (
        extract_features(encoder, data, mean=mean, std=std, to_rgb=to_rgb)
        for data in (train_set, val_set))
    return train, val
