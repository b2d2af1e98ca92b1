"""Train a model from a config (mmpretrain's train.py, with the plugin).

    python tools/train.py configs/mixmim/mixmim-b_8xb128_600e.py
    python tools/train.py CONFIG --work-dir DIR --resume [auto|PATH] --amp
"""
import argparse
from copy import deepcopy

from mmengine.config import Config, ConfigDict, DictAction

import mixmim_plugin  # noqa: F401  (registers the plugin scope)
from mixmim_plugin.utils import check_dataset_paths, setup_cpu_distributed
from ..console import ProgressRunner
from .launch import add_launcher_args, export_local_rank, set_work_dir

FAULT_TOLERANT = 'mixmim_plugin.FaultTolerantRunner'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint, or, without a value, from the '
        'latest checkpoint in the work dir')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='mixed precision training (fp16 AMP on GPU, bf16 autocast on '
        'CPU)')
    parser.add_argument(
        '--no-validate',
        action='store_true',
        help='do not evaluate checkpoints during training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate by the actual total batch size over '
        'auto_scale_lr.base_batch_size')
    parser.add_argument(
        '--no-pin-memory',
        action='store_true',
        help='disable pin_memory in the dataloaders')
    parser.add_argument(
        '--no-persistent-workers',
        action='store_true',
        help='disable persistent_workers in the dataloaders')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs '
        '(a list as key="[a,b]" or key=a,b)')
    add_launcher_args(parser)
    args = parser.parse_args(argv)
    export_local_rank(args)
    return args


def merge_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Merge the command line into the config: ``--cfg-options`` first (as
    mmpretrain's train.py), then the flags, then the dataloader defaults,
    which therefore see the final ``num_workers``."""
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)

    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None

    cfg.launcher = args.launcher
    set_work_dir(cfg, args)

    if args.amp:  # fp16 AMP on an accelerator, bf16 autocast on a CPU
        cfg.optim_wrapper.type = 'mixmim_plugin.DeviceAmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg:
            raise ValueError('--auto-scale-lr needs `auto_scale_lr = dict('
                             'base_batch_size=...)` in the config')
        cfg.auto_scale_lr.enable = True

    default_dataloader_cfg = ConfigDict(
        pin_memory=True,
        persistent_workers=True,
        collate_fn=dict(type='default_collate'),
    )

    for field in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(field, None) is None:
            continue
        dataloader_cfg = deepcopy(default_dataloader_cfg)
        dataloader_cfg.update(cfg[field])
        if args.no_pin_memory:
            dataloader_cfg.pin_memory = False
        if args.no_persistent_workers or dataloader_cfg.get('num_workers',
                                                            0) == 0:
            dataloader_cfg.persistent_workers = False
        cfg[field] = dataloader_cfg
    return cfg


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    cfg = merge_args(cfg, args)
    check_dataset_paths(cfg)
    setup_cpu_distributed(cfg)
    if cfg.get('runner_type', FAULT_TOLERANT) == FAULT_TOLERANT:
        runner = ProgressRunner.from_cfg(cfg)  # the same, on a quiet console
    else:
        from mmengine.registry import RUNNERS
        runner = RUNNERS.build(cfg)
    runner.train()
