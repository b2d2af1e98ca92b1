"""The transfer protocols of the learning-signal tool: fine-tuning,
Mask R-CNN and UPerNet, each run from a pretraining checkpoint and from the
random initialisation that pretraining started from, and scored by the
transfer config's own evaluator.

A protocol runs the method's embedded transfer config (``configs/*/
benchmarks/*_embedded.py`` whose ``Pretrained`` checkpoint names the
pretraining config) as a user would: the checkpoint goes through the
converter the config's comment names (``moby2swin.py`` for a ``_swin.pth``)
and the config's ``model.backbone.init_cfg``; mmengine's Runner (or the
config's ``runner_type``) trains it and runs its validation loop. Only the
data location, the checkpoint, the seed, the work dir and the length (the
config's schedule shape compressed or stretched to ``iters``) change, the
same for both initialisations.
"""
import copy
import glob
import math
import os.path as osp
import time
import uuid
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import DATASETS

from .cli import moby2swin
from .configs import in_config_scope, load_config
from .learning_signal import build_runner, rescale_schedule
from .transfer import config_root, data_overrides, pretraining_source, task


@dataclass(frozen=True)
class Protocol:
    """A transfer protocol: the task of its configs and the metrics it
    reports, as (evaluator key, label)."""
    task: str
    metrics: Tuple[Tuple[str, str], ...]


PROTOCOLS: Dict[str, Protocol] = dict(
    finetune=Protocol('cls', (('accuracy/top1', 'top-1 (%)'), )),
    det=Protocol('det',
                 (('coco/bbox_mAP', 'bbox AP'), ('coco/segm_mAP', 'segm AP'))),
    seg=Protocol('seg', (('mIoU', 'mIoU (%)'), )))


def transfer_configs(pretrain_config: str, protocol: str) -> List[str]:
    """The plugin's embedded transfer configs of ``protocol`` that start
    from a checkpoint of ``pretrain_config`` (a path)."""
    wanted = osp.realpath(pretrain_config)
    found = []
    pattern = osp.join(config_root(), '*', 'benchmarks', '*_embedded.py')
    for path in sorted(glob.glob(pattern)):
        cfg = load_config(path)
        source = pretraining_source(cfg)
        if (source and osp.realpath(source[0]) == wanted
                and task(cfg) == PROTOCOLS[protocol].task):
            found.append(path)
    return found


def starting_checkpoint(cfg: Config, checkpoint: str) -> str:
    """``checkpoint`` as the transfer config loads it: converted by
    ``moby2swin.py`` (beside it, ``<name>_swin.pth``) where the config's
    checkpoint is a ``_swin.pth``, else as it is."""
    _, to_swin = pretraining_source(cfg)
    if not to_swin:
        return checkpoint
    converted = osp.splitext(checkpoint)[0] + '_swin.pth'
    if moby2swin.main([checkpoint, converted]) != 0:
        raise RuntimeError(f'moby2swin.py could not convert {checkpoint}')
    return converted


def iters_per_epoch(cfg: Config) -> int:
    """Batches in one epoch of the config's train dataloader."""
    loader = cfg.train_dataloader
    with in_config_scope(cfg):
        dataset = DATASETS.build(copy.deepcopy(loader.dataset))
    return math.ceil(len(dataset) / loader.batch_size)


def transfer_config(cfg: Config,
                    roots: Dict[str, str],
                    checkpoint: str,
                    work_dir: str,
                    seed: int = 0,
                    iters: Optional[int] = None) -> Config:
    """A copy of the transfer config ``cfg`` on the embedded data
    (``roots``), its backbone starting from ``checkpoint``, seeded, in
    ``work_dir``, without checkpoints, for ``iters`` iterations if given
    (validated once, at the end)."""
    cfg = copy.deepcopy(cfg)
    cfg.merge_from_dict(data_overrides(cfg, roots, checkpoint))
    if iters is not None:
        loop = cfg.train_cfg
        by_epoch = loop.get('by_epoch', 'max_epochs' in loop)
        rescale_schedule(cfg, iters,
                         iters_per_epoch(cfg) if by_epoch else None)
    cfg.work_dir = work_dir
    cfg.experiment_name = f'transfer_{uuid.uuid4().hex[:12]}'
    if cfg.get('visualizer'):
        cfg.visualizer.name = cfg.experiment_name
    cfg.randomness = dict(seed=seed, deterministic=False)
    cfg.default_hooks.checkpoint = None
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(loader):
            cfg[loader].num_workers = 0
            cfg[loader].persistent_workers = False
    return cfg


class _LastMetrics(Hook):
    """Keeps the metrics of the last validation."""

    def __init__(self) -> None:
        self.metrics: Dict[str, float] = {}

    def after_val_epoch(self, runner, metrics=None) -> None:
        self.metrics = dict(metrics or {})


@dataclass
class Transferred:
    """The metrics of a transfer run's final validation and its time."""
    metrics: Dict[str, float]
    seconds: float


def transfer(cfg: Config, protocol: str) -> Transferred:
    """Train ``cfg`` (see :func:`transfer_config`) and read the
    ``protocol``'s metrics off its last validation."""
    runner = build_runner(cfg)
    last = _LastMetrics()
    runner.register_hook(last, priority='LOWEST')
    start = time.perf_counter()
    runner.train()
    seconds = time.perf_counter() - start
    keys = [key for key, _ in PROTOCOLS[protocol].metrics]
    missing = [key for key in keys if key not in last.metrics]
    if missing:
        raise RuntimeError(f'the validation reported {sorted(last.metrics)}, '
                           f'not {missing}')
    return Transferred({key: float(last.metrics[key])
                        for key in keys}, seconds)
