"""Benchmark of pretraining, detection and segmentation configs (the
plugin's and any installed package's, e.g. ``mmpretrain::``, ``mmdet::``,
``mmseg::``), measured interleaved in one run.

    python tools/analysis_tools/benchmark_models.py CONFIG [CONFIG ...]
        [--names NAME ...] [--batch 4] [--img-size N]
        [--precisions fp32 bf16] [--iters 6] [--warmup 2]
        [--device cpu|cuda] [--threads N] [--out-dir DIR]

For every config: parameters, forward FLOPs per image (mmengine's
``FlopAnalyzer``; torch's counter where it fails, column ``FLOPs by``),
training-step time (forward + backward + the config's own optimizer, with
its gradient clipping), images/s, its speed relative to the first config,
achieved TFLOP/s, the memory of weights + optimizer state and the peak
memory a step adds (CUDA allocator; on CPU the resident-set high-water mark
rise); for detectors and segmentors also the eval-mode inference latency of
the batch (``mode='predict'``, post-processing included) and its images/s.
Inputs are the config's own: synthetic samples of its task (images; boxes
and masks for detectors, label maps for segmentors) through its train
pipeline, collate function and data preprocessor. The input size is the
config's unless ``--img-size``: the crop for pretraining and segmentation,
the shorter side for detection (whose train resizes become one resize to
the test scale, see :mod:`mixmim_tools.benchmark.tasks`). FLOPs are the
training loss's forward for pretraining and the network's
(``mode='tensor'``, as mmdet's and mmseg's ``get_flops.py``) for detectors
and segmentors (column ``FLOPs of``). Precision is autocast around the
forward (no loss scaling); mixed-precision optimizer wrappers become
``OptimWrapper``. ``Pretrained`` init_cfgs are stripped (random weights;
nothing is downloaded). All notes are printed under the table.

Every round steps each model once at each precision (round-robin), so
machine noise hits all alike; medians over ``--iters`` rounds after
``--warmup`` are reported. Writes ``benchmark.md``, ``benchmark.csv`` and
``benchmark.png`` (images/s and peak memory bars) in ``--out-dir``.

A config that cannot be loaded, built, fed, stepped or run in eval mode is
reported on stderr (``error: <config>: cannot <stage>: <reason>``) and
skipped (only at the failing precision where the others run: mmcv's CPU
NMS, for one, has no bf16 kernel, so detectors run fp32 only on a CPU); the
others are still measured and written, and the exit status is 1. Exit
status 0 means every config was measured at every precision.
"""
import argparse
import os.path as osp
import sys
from typing import List, Sequence

import torch
from mmengine.logging import MessageHub

from ..benchmark.contenders import (BenchmarkError, Contender, Inference,
                                    build_contender, count_flops,
                                    inference_step, try_steps)
from ..benchmark.measure import device_name, measure_memory
from ..benchmark.results import COLUMNS, bar_chart, result_rows
from ..tables import markdown_table, write_csv, write_lines
from .benchmarking import (add_step_args, apply_step_args, check_step_args,
                           time_rounds)

CSV_KEYS = ('model', 'task', 'config', 'precision', 'device', 'batch', 'input',
            'params_m', 'fwd_gflops', 'flops_of', 'flops_by', 'fwd_bwd_s',
            'optim_s', 'step_s', 'images_per_s', 'speed_vs_first', 'tflops',
            'infer_s', 'infer_images_per_s', 'state_mib', 'peak_mib')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Interleaved benchmark of pretraining, detection and '
        'segmentation configs')
    parser.add_argument(
        'configs', nargs='+', help='config paths or <package>::<path>')
    parser.add_argument(
        '--names', nargs='+', help='table names, one per config')
    add_step_args(parser)
    parser.add_argument(
        '--img-size',
        type=int,
        default=None,
        help='input size: the crop for pretraining and segmentation, the '
        'shorter side for detection (default: each config\'s own)')
    parser.add_argument(
        '--out-dir', default='work_dirs/benchmark_models', help='output dir')
    args = parser.parse_args(argv)
    if args.names and len(args.names) != len(args.configs):
        parser.error(f'{len(args.names)} --names for {len(args.configs)} '
                     'configs')
    names = args.names or args.configs
    if len(set(names)) != len(names):
        parser.error('configs or --names repeat; names must be unique')
    for flag in ('batch', 'iters'):
        if getattr(args, flag) < 1:
            parser.error(f'--{flag} must be >= 1')
    if args.warmup < 0:
        parser.error('--warmup must be >= 0')
    check_step_args(parser, args)
    args.precisions = list(dict.fromkeys(args.precisions))
    return args


def build_all(args) -> tuple:
    """Contenders that built and stepped, and the errors of the others."""
    contenders: List[Contender] = []
    errors: List[BenchmarkError] = []
    names = args.names or [None] * len(args.configs)
    for config, name in zip(args.configs, names):
        log(f'building {config}')
        try:
            contender = build_contender(config, args.device, args.batch,
                                        args.seed, name, args.img_size)
        except BenchmarkError as error:
            errors.append(report_error(error))
            continue
        for precision in args.precisions:
            try:
                try_steps(contender, [precision], args.device)
                contender.precisions.append(precision)
            except BenchmarkError as error:
                errors.append(report_error(error))
        if contender.precisions:
            contenders.append(contender)
    return contenders, errors


def report_error(error: BenchmarkError) -> BenchmarkError:
    print(f'error: {error}', file=sys.stderr, flush=True)
    return error


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def report(args, contenders: Sequence[Contender], rows: List[dict],
           memory_ok: bool) -> List[str]:
    lines = [
        f'device: {device_name(args.device)}, torch threads '
        f'{torch.get_num_threads()}, batch {args.batch}, '
        f'{args.iters} timed rounds after {args.warmup} warm-up, '
        'interleaved (medians)', ''
    ]
    lines += markdown_table(rows, COLUMNS)
    lines += [
        '', 'fwd GFLOPs/img: the forward of `FLOPs of` per image, one '
        'multiply-add = 1 FLOP; TFLOP/s: torch-counted forward+backward '
        'FLOPs of the batch (multiply-add = 2) / step time; speed vs first: '
        'images/s over the first model\'s at the same precision; FLOPs of: '
        'loss = the training loss\'s forward, tensor = the eval-mode network '
        '(mode=\'tensor\', no post-processing); inference: eval-mode '
        'prediction of the batch with post-processing; weights+optim: '
        'parameters, buffers and optimizer state; step peak: '
        'memory a training step adds on top of that (activations, '
        'gradients).'
    ]
    if not memory_ok:
        lines.append('step peak memory not measured: glibc mallopt is '
                     'unavailable')
    for c in contenders:
        for note in c.notes:
            lines.append(f'- {c.name}: {note}')
    return lines


def main(argv=None) -> int:
    args = parse_args(argv)
    apply_step_args(args)
    # MoBY's momentum schedule reads the run length from the message hub
    MessageHub.get_current_instance().update_info(
        'max_iters', 10 * (args.iters + args.warmup + 10))
    contenders, errors = build_all(args)
    if not contenders:
        log(f'error: none of the {len(args.configs)} configs could be '
            'benchmarked')
        return 1
    for c in contenders:
        count_flops(c)
    time_rounds(args, contenders, 'round')
    predicting = [Inference(c) for c in contenders if c.predicts]
    if predicting:
        time_rounds(args, predicting, 'inference round', inference_step)
    memory_ok = measure_memory(contenders, args.precisions, args.device)
    rows = result_rows(contenders, args.precisions)
    for row in rows:
        row['device'] = args.device
    lines = report(args, contenders, rows, memory_ok)
    print('\n'.join(lines))
    out = args.out_dir
    write_lines(lines, osp.join(out, 'benchmark.md'))
    write_csv(rows, CSV_KEYS, osp.join(out, 'benchmark.csv'))
    bar_chart(rows, osp.join(out, 'benchmark.png'),
              f'batch {args.batch}, {device_name(args.device)}')
    log(f'written: {out}/benchmark.{{md,csv,png}}')
    if errors:
        log(f'error: {len(errors)} configs or precisions were not '
            'benchmarked: ' + '; '.join(f'{e.config} ({e.stage})'
                                        for e in errors))
        return 1
    return 0
