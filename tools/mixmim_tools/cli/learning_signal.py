"""Learning-signal benchmark: does each method's pretraining beat a random
encoder, frozen, after fine-tuning and in transfer?

    python tools/analysis_tools/learning_signal.py [CONFIG ...]
        [--protocol knn linear finetune det seg] [--iters 600]
        [--finetune-iters 190] [--det-iters 360] [--seg-iters 240]
        [--data data/embedded] [--out-dir DIR] [--knn-k 20]
        [--probe-epochs 100] [--num-workers N] [--seed 0]
        [--cfg-options KEY=VALUE ...]

Pretrains each config (default: the tiny embedded MixMIM, DropPos, MAE and
MoBY configs) on the embedded ImageNet-style data for the same number of
iterations (``--iters``, batch as configured: 32), each with its own
optimizer and its schedule shape compressed to that budget (600 iterations
= 33 epochs of the 600 training images; ``--cfg-options`` changes every
pretraining config, to see whether a change helps). Then compares the
pretrained encoder with the same encoder at its random initialisation (the
weights its training started from, saved as ``iter_0.pth``) under each
``--protocol``:

- ``knn``, ``linear``: weighted k-NN and a linear probe on frozen pooled
  features at the training crop size, fitted on the embedded train split
  (600 images, 10 classes), top-1 on its val split (200 images);
- ``finetune``, ``det``, ``seg``: the method's embedded transfer config
  (``configs/*/benchmarks/*_embedded.py`` naming the pretraining config in
  its ``Pretrained`` checkpoint: the fine-tuning recipe with layer decay and
  drop path, Mask R-CNN on the embedded COCO set, UPerNet on the embedded
  ADE set) trained from each checkpoint through the converter and
  ``init_cfg`` a user goes through, with the same seed and the config's
  schedule shape set to ``--<protocol>-iters``, scored by its evaluator.

Prints the pretraining runs and one row per method, protocol and metric
(random, pretrained, ``beats random`` yes/no), then ``beats random: N of
M``; writes ``learning_signal.md``, ``learning_signal.csv`` and
``pretraining.csv`` to ``--out-dir``. A method without a transfer config
for a protocol is listed as not measured. A config that fails to load stops
the run before any training; a pretraining or transfer run that fails is
named (``error: <config>: ...``), the others are still measured and
written, and the exit status is 1. Otherwise it is 0, whatever the
verdicts.
"""
import argparse
import os.path as osp
import sys
import time
from typing import Dict, List

import torch
from mmengine.config import Config, DictAction

from ..configs import config_label, load_config
from ..data.embedded import make_embedded_data
from ..downstream import (PROTOCOLS, starting_checkpoint, transfer,
                          transfer_config, transfer_configs)
from ..evaluation import image_folder_dataset
from ..learning_signal import (FROZEN_PROTOCOLS, Pretrained, budget_config,
                               encoder_features, input_size, normalization,
                               pretrain, score_features)
from ..tables import markdown_table, write_csv, write_lines

DEFAULT_CONFIGS = (
    'configs/mixmim/mixmim-tiny_1xb32_20e_embedded.py',
    'configs/droppos/droppos-tiny_1xb32_20e_embedded.py',
    'configs/mae/mae-tiny_1xb32_20e_embedded.py',
    'configs/moby/moby-swin-nano_1xb32_30e_embedded.py',
)
# 10 epochs of the embedded classification train split (600 images, batch
# 32), 30 of the embedded COCO train split and 20 of the ADE one (48 images
# each, batch 4): about 70 minutes for the four default methods on a 2-core
# CPU with every protocol
DEFAULT_TRANSFER_ITERS = {'finetune': 190, 'det': 360, 'seg': 240}
FROZEN_METRICS = {'knn': 'k-NN top-1', 'linear': 'probe top-1'}
CHOICES = FROZEN_PROTOCOLS + tuple(PROTOCOLS)
RANDOM, PRETRAINED = 'random', 'pretrained'

PRETRAIN_COLUMNS = (
    ('method', 'method'),
    ('iters', 'iters'),
    ('pretrain_s', 'pretrain (s)'),
    ('loss', 'loss first -> last'),
)
PRETRAIN_CSV = ('method', 'config', 'iters', 'batch', 'pretrain_s',
                'first_loss', 'last_loss')
COLUMNS = (
    ('method', 'method'),
    ('protocol', 'protocol'),
    ('config', 'config'),
    ('metric', 'metric'),
    (RANDOM, 'random'),
    (PRETRAINED, 'pretrained'),
    ('seconds', 'time (s)'),
    ('beats_random', 'beats random'),
)
CSV_KEYS = ('method', 'protocol', 'config', 'iters', 'metric', RANDOM,
            PRETRAINED, 'seconds', 'beats_random')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='pretrained vs random encoders: frozen, fine-tuned and '
        'in transfer')
    parser.add_argument('configs', nargs='*', default=list(DEFAULT_CONFIGS))
    parser.add_argument(
        '--protocol',
        nargs='+',
        choices=CHOICES,
        default=list(FROZEN_PROTOCOLS),
        help='what to score (default: knn linear)')
    parser.add_argument(
        '--iters',
        type=int,
        default=600,
        help='pretraining iterations per method (same for all)')
    for protocol, iters in DEFAULT_TRANSFER_ITERS.items():
        parser.add_argument(
            f'--{protocol}-iters',
            type=int,
            default=iters,
            help=f'{protocol} iterations per run (same for every method)')
    parser.add_argument(
        '--data',
        default='data/embedded',
        help='the embedded data (generated if missing)')
    parser.add_argument(
        '--out-dir', default='work_dirs/learning_signal', help='output dir')
    parser.add_argument('--knn-k', type=int, default=20)
    parser.add_argument('--probe-epochs', type=int, default=100)
    parser.add_argument(
        '--num-workers',
        type=int,
        default=None,
        help='pretraining data loader workers (default: the config\'s)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        default={},
        help='overrides of every pretraining config (key=value, as in '
        'tools/train.py); the transfer configs are left as they are')
    args = parser.parse_args(argv)
    counts = ['iters', 'knn_k', 'probe_epochs'
              ] + [f'{p}_iters' for p in DEFAULT_TRANSFER_ITERS]
    for flag in counts:
        if getattr(args, flag) < 1:
            parser.error(f'--{flag.replace("_", "-")} must be >= 1')
    args.protocol = [p for p in CHOICES if p in args.protocol]
    return args


def method_name(cfg: Config, config: str, taken: List[str]) -> str:
    name = cfg.model.get('type', config_label(config))
    return config_label(config) if name in taken else name


def result_row(name: str, protocol: str, config: str, iters: int, metric: str,
               random: float, pretrained: float, seconds: float) -> dict:
    return {
        'method': name,
        'protocol': protocol,
        'config': config_label(config),
        'iters': iters,
        'metric': metric,
        RANDOM: round(random, 4),
        PRETRAINED: round(pretrained, 4),
        'seconds': round(seconds, 1),
        'beats_random': 'yes' if pretrained > random else 'no',
    }


def pretrain_row(name: str, config: str, cfg: Config, iters: int,
                 result: Pretrained) -> dict:
    return dict(
        method=name,
        config=config,
        iters=iters,
        batch=cfg.train_dataloader.batch_size,
        pretrain_s=round(result.seconds, 1),
        first_loss=round(result.first_loss, 4),
        last_loss=round(result.last_loss, 4),
        loss=f'{result.first_loss:.4f} -> {result.last_loss:.4f}')


def frozen_rows(args, cfg: Config, config: str, name: str, result: Pretrained,
                datasets: dict) -> List[dict]:
    """The k-NN / linear-probe rows of one pretraining run."""
    protocols = [p for p in args.protocol if p in FROZEN_PROTOCOLS]
    if not protocols:
        return []
    size = input_size(cfg)
    if size not in datasets:
        datasets[size] = [
            image_folder_dataset(
                osp.join(args.roots['imagenet'], split), size)
            for split in ('train', 'val')
        ]
    features, extraction = {}, 0.0
    for label, backbone in ((RANDOM, result.initial), (PRETRAINED,
                                                       result.trained)):
        start = time.perf_counter()
        features[label] = encoder_features(backbone, *datasets[size],
                                           normalization(cfg))
        extraction += time.perf_counter() - start
    rows = []
    for protocol in protocols:  # time: the features' and this protocol's
        start = time.perf_counter()
        scores = {
            label:
            score_features(*pair, [protocol], args.knn_k,
                           args.probe_epochs)[protocol]
            for label, pair in features.items()
        }
        rows.append(
            result_row(name, protocol, config, args.iters,
                       FROZEN_METRICS[protocol], scores[RANDOM],
                       scores[PRETRAINED],
                       extraction + time.perf_counter() - start))
    return rows


def transfer_rows(args, protocol: str, transfer_path: str, name: str,
                  result: Pretrained, work_dir: str) -> List[dict]:
    """Train the transfer config from the random and the pretrained
    checkpoint (same seed and schedule) and compare their metrics."""
    cfg = load_config(transfer_path)
    iters = getattr(args, f'{protocol}_iters')
    runs = {}
    for label, checkpoint in ((RANDOM, result.initial_checkpoint),
                              (PRETRAINED, result.checkpoint)):
        print(
            f'{protocol}: {config_label(transfer_path)} from the {label} '
            f'{name} encoder for {iters} iterations',
            file=sys.stderr,
            flush=True)
        runs[label] = transfer(
            transfer_config(cfg, args.roots,
                            starting_checkpoint(cfg, checkpoint),
                            osp.join(work_dir, label), args.seed, iters),
            protocol)
    seconds = sum(r.seconds for r in runs.values())
    return [
        result_row(name, protocol, transfer_path, iters, metric,
                   runs[RANDOM].metrics[key], runs[PRETRAINED].metrics[key],
                   seconds) for key, metric in PROTOCOLS[protocol].metrics
    ]


def load_configs(paths: List[str], options: dict) -> List[Config]:
    """All configs with ``options`` merged in, loaded before anything is
    trained; a broken one is a ``ValueError`` naming it."""
    configs = []
    for path in paths:
        try:
            configs.append(load_config(path))
            configs[-1].merge_from_dict(options)
        except Exception as error:
            raise ValueError(f'{path}: cannot load the config: '
                             f'{type(error).__name__}: {error}') from error
    return configs


class Report:
    """The rows, the pretraining runs, the errors and what was not
    measured, as they come in."""

    def __init__(self) -> None:
        self.pretraining: List[dict] = []
        self.rows: List[dict] = []
        self.errors: List[str] = []
        self.unmeasured: List[str] = []

    def error(self, config: str, error: Exception) -> None:
        line = f'error: {config}: {type(error).__name__}: {error}'
        print(line, file=sys.stderr, flush=True)
        self.errors.append(line)

    def lines(self, args) -> List[str]:
        wins = sum(row['beats_random'] == 'yes' for row in self.rows)
        lines = [
            f'{args.iters} pretraining iterations per method; random = the '
            'same encoder at the initialisation its pretraining started '
            'from, trained and scored the same way', ''
        ] + markdown_table(self.pretraining, PRETRAIN_COLUMNS) + ['']
        if self.rows:
            lines += markdown_table(self.rows, COLUMNS) + ['']
        lines += self.unmeasured + self.errors
        return lines + [f'beats random: {wins} of {len(self.rows)}']


def measure(args, path: str, cfg: Config, name: str, report: Report,
            datasets: dict) -> None:
    """Pretrain one config and run every protocol on it."""
    print(
        f'pretraining {name} ({path}) for {args.iters} iterations',
        file=sys.stderr,
        flush=True)
    work_dir = osp.join(args.out_dir, 'work', name)
    try:
        result = pretrain(
            budget_config(cfg, args.iters, args.roots['imagenet'],
                          osp.join(work_dir, 'pretrain'), args.seed,
                          args.num_workers))
        report.pretraining.append(
            pretrain_row(name, path, cfg, args.iters, result))
        report.rows += frozen_rows(args, cfg, path, name, result, datasets)
    except Exception as error:  # the other methods still get measured
        report.error(path, error)
        return
    for protocol in (p for p in args.protocol if p in PROTOCOLS):
        found = transfer_configs(path, protocol)
        if not found:
            report.unmeasured.append(
                f'not measured: {name} {protocol} (no embedded '
                f'{PROTOCOLS[protocol].task} config starts from {path})')
        for transfer_path in found:
            try:
                report.rows += transfer_rows(
                    args, protocol, transfer_path, name, result,
                    osp.join(work_dir, protocol, config_label(transfer_path)))
            except Exception as error:
                report.error(transfer_path, error)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        configs = load_configs(args.configs, args.cfg_options)
    except ValueError as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    args.roots = make_embedded_data(args.data)
    report = Report()
    datasets: Dict[int, list] = {}
    names: List[str] = []
    for path, cfg in zip(args.configs, configs):
        names.append(method_name(cfg, path, names))
        measure(args, path, cfg, names[-1], report, datasets)
    lines = report.lines(args)
    print('\n'.join(lines))
    write_lines(lines, osp.join(args.out_dir, 'learning_signal.md'))
    write_csv(report.rows, CSV_KEYS,
              osp.join(args.out_dir, 'learning_signal.csv'))
    write_csv(report.pretraining, PRETRAIN_CSV,
              osp.join(args.out_dir, 'pretraining.csv'))
    return 1 if report.errors else 0
