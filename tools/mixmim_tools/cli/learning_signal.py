"""Learning-signal benchmark: does each method's pretraining beat a random
encoder?

    python tools/analysis_tools/learning_signal.py [CONFIG ...]
        [--iters 600] [--data data/embedded] [--out-dir DIR]
        [--knn-k 20] [--probe-epochs 100] [--num-workers N] [--seed 0]

Pretrains each config (default: the tiny embedded MixMIM, DropPos, MAE and
MoBY configs) on the embedded ImageNet-style data for the same number of
iterations (``--iters``, batch as configured: 32), each with its own
optimizer and its schedule shape compressed to that budget (600 iterations
= 33 epochs of the 600 training images: at 150, the pixel-reconstruction
methods are still below their random initialisation). Then scores the
frozen encoder next to the same encoder at its random initialisation (the
weights its training started from): weighted k-NN and a linear probe on
pooled features, fitted on the embedded train split (600 images, 10
classes) and evaluated on the val split (200 images), at the config's
training crop size. Prints a table, writes ``learning_signal.md`` and
``learning_signal.csv`` to ``--out-dir``, and says for every method whether
it beats random init on both scores. A config that fails to load stops the
run before any training; one that fails to train or score is reported
(``error: <config>: ...``) and the others are still measured and written.
The exit status is 0 when everything ran, whatever the verdicts.
"""
import argparse
import os.path as osp
import sys
from typing import Dict, List

import torch
from mmengine.config import Config

from ..configs import config_label, load_config
from ..data.embedded import make_embedded_data
from ..evaluation import image_folder_dataset
from ..learning_signal import (budget_config, input_size, normalization,
                               pretrain, score_encoder, verdicts)
from ..tables import markdown_table, write_csv, write_lines

DEFAULT_CONFIGS = (
    'configs/mixmim/mixmim-tiny_1xb32_20e_embedded.py',
    'configs/droppos/droppos-tiny_1xb32_20e_embedded.py',
    'configs/mae/mae-tiny_1xb32_20e_embedded.py',
    'configs/moby/moby-swin-nano_1xb32_30e_embedded.py',
)
COLUMNS = (
    ('method', 'method'),
    ('iters', 'iters'),
    ('pretrain_s', 'pretrain (s)'),
    ('loss', 'loss first -> last'),
    ('eval_size', 'eval size'),
    ('knn_random', 'k-NN random'),
    ('knn_trained', 'k-NN trained'),
    ('probe_random', 'probe random'),
    ('probe_trained', 'probe trained'),
    ('beats_random', 'beats random'),
)
CSV_KEYS = ('method', 'config', 'iters', 'batch', 'pretrain_s', 'first_loss',
            'last_loss', 'eval_size', 'knn_random', 'knn_trained',
            'probe_random', 'probe_trained', 'beats_random')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='k-NN / linear probe of pretrained vs random encoders')
    parser.add_argument('configs', nargs='*', default=list(DEFAULT_CONFIGS))
    parser.add_argument(
        '--iters',
        type=int,
        default=600,
        help='pretraining iterations per method (same for all)')
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
        help='data loader workers (default: the config\'s)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--threads', type=int, default=None)
    args = parser.parse_args(argv)
    for flag in ('iters', 'knn_k', 'probe_epochs'):
        if getattr(args, flag) < 1:
            parser.error(f'--{flag.replace("_", "-")} must be >= 1')
    return args


def method_name(cfg: Config, config: str, taken: List[str]) -> str:
    name = cfg.model.get('type', config_label(config))
    return config_label(config) if name in taken else name


def run_one(args, cfg: Config, config: str, name: str, roots: Dict[str, str],
            datasets: dict) -> dict:
    """Pretrain one config and score its encoder before and after."""
    size = input_size(cfg)
    if size not in datasets:
        datasets[size] = [
            image_folder_dataset(osp.join(roots['imagenet'], split), size)
            for split in ('train', 'val')
        ]
    work_dir = osp.join(args.out_dir, 'work', name)
    result = pretrain(
        budget_config(cfg, args.iters, roots['imagenet'], work_dir, args.seed,
                      args.num_workers))
    norm = normalization(cfg)
    scores = {
        label:
        score_encoder(backbone, *datasets[size], norm, args.knn_k,
                      args.probe_epochs)
        for label, backbone in (('random', result.initial), ('trained',
                                                             result.trained))
    }
    row = dict(
        method=name,
        config=config,
        iters=args.iters,
        batch=cfg.train_dataloader.batch_size,
        pretrain_s=round(result.seconds, 1),
        first_loss=round(result.first_loss, 4),
        last_loss=round(result.last_loss, 4),
        loss=f'{result.first_loss:.4f} -> {result.last_loss:.4f}',
        eval_size=size)
    for label, score in scores.items():
        row[f'knn_{label}'] = round(score['knn'], 4)
        row[f'probe_{label}'] = round(score['probe'], 4)
    beats = [
        metric for key, metric in (('knn', 'k-NN'), ('probe', 'probe'))
        if row[f'{key}_trained'] > row[f'{key}_random']
    ]
    row['beats_random'] = ' and '.join(beats) if beats else 'no'
    return row


def load_configs(paths: List[str]) -> List[Config]:
    """All configs, loaded before anything is trained; a broken one is a
    ``ValueError`` naming it."""
    configs = []
    for path in paths:
        try:
            configs.append(load_config(path))
        except Exception as error:
            raise ValueError(f'{path}: cannot load the config: '
                             f'{type(error).__name__}: {error}') from error
    return configs


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        configs = load_configs(args.configs)
    except ValueError as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    roots = make_embedded_data(args.data)
    rows: List[dict] = []
    failed: List[str] = []
    datasets: dict = {}
    for path, cfg in zip(args.configs, configs):
        name = method_name(cfg, path, [r['method'] for r in rows])
        print(
            f'pretraining {name} ({path}) for {args.iters} iterations',
            file=sys.stderr,
            flush=True)
        try:
            rows.append(run_one(args, cfg, path, name, roots, datasets))
        except Exception as error:  # the other methods still get measured
            print(
                f'error: {path}: {type(error).__name__}: {error}',
                file=sys.stderr,
                flush=True)
            failed.append(path)
    if not rows:
        return 1
    lines = [
        f'{args.iters} pretraining iterations per method; k-NN (k='
        f'{args.knn_k}, cosine, weighted) and linear probe '
        f'({args.probe_epochs} epochs) on frozen pooled features, fitted on '
        'the embedded train split, top-1 on its val split; random = the '
        'same encoder at the initialisation its training started from', ''
    ]
    lines += markdown_table(rows, COLUMNS) + [''] + verdicts(rows)
    print('\n'.join(lines))
    write_lines(lines, osp.join(args.out_dir, 'learning_signal.md'))
    write_csv(rows, CSV_KEYS, osp.join(args.out_dir, 'learning_signal.csv'))
    if failed:
        print(
            f'error: {len(failed)} of {len(configs)} configs failed: ' +
            ', '.join(failed),
            file=sys.stderr)
        return 1
    return 0
