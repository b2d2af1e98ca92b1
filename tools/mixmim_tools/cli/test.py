"""Evaluate a checkpoint (mmpretrain's test.py, with the plugin).

    python tools/test.py CONFIG CHECKPOINT [--out results.pkl]
"""
import argparse
import os.path as osp
import sys

from mmengine.config import Config, DictAction
from mmengine.evaluator import DumpResults

import mixmim_plugin  # noqa: F401  (registers the plugin scope)
from mixmim_plugin.utils import check_dataset_paths, setup_cpu_distributed
from ..console import ProgressRunner
from .launch import add_launcher_args, export_local_rank, set_work_dir

TEST_LOOP_KEYS = ('test_dataloader', 'test_cfg', 'test_evaluator')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save logs')
    parser.add_argument(
        '--out', help='dump the predictions to this pickle file')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs')
    add_launcher_args(parser)
    args = parser.parse_args(argv)
    export_local_rank(args)
    if args.out is not None and not args.out.endswith(('.pkl', '.pickle')):
        parser.error('--out must end with .pkl or .pickle')
    return args


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint) and '://' not in args.checkpoint:
        raise FileNotFoundError(f'checkpoint not found: {args.checkpoint}')
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    missing = [key for key in TEST_LOOP_KEYS if cfg.get(key, None) is None]
    if missing:
        print(
            f'{args.config} has no test loop (no {", ".join(missing)}): '
            'pretraining configs are evaluated through their benchmark '
            'configs (configs/<method>/benchmarks/)',
            file=sys.stderr)
        return 2
    cfg.launcher = args.launcher
    set_work_dir(cfg, args)
    cfg.load_from = args.checkpoint
    check_dataset_paths(cfg, fields=('test_dataloader', ))
    setup_cpu_distributed(cfg)

    runner = ProgressRunner.from_cfg(cfg)
    if args.out is not None:
        runner.test_evaluator.metrics.append(
            DumpResults(out_file_path=args.out))
    metrics = runner.test()
    return 0 if metrics is not None else 1
