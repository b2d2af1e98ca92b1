"""What the benchmark tools (``benchmark_models.py``,
``benchmark_pretrain.py``) share: the step options and the interleaved
timing rounds."""
import argparse
import sys
from typing import List, Sequence

import torch
from mmengine.logging import MMLogger

from mixmim_plugin.engine.optimizers.device_amp_optim_wrapper import \
    cpu_has_native_bf16
from ..benchmark.measure import (PRECISIONS, StepFn, Steppable,
                                 measure_interleaved, timed_step)


def add_step_args(parser: argparse.ArgumentParser) -> None:
    """How the benchmarks step: ``--batch``, ``--iters``, ``--warmup``,
    ``--precisions``, ``--device``, ``--threads`` and ``--seed`` (checked
    by :func:`check_step_args`)."""
    parser.add_argument('--batch', type=int, default=4)
    parser.add_argument('--iters', type=int, default=6)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument(
        '--precisions',
        nargs='+',
        choices=PRECISIONS,
        help='default: fp32 and bf16, fp32 alone on a CPU without bf16 '
        'instructions')
    parser.add_argument(
        '--device',
        default='cuda' if torch.cuda.is_available() else 'cpu',
        choices=['cpu', 'cuda'])
    parser.add_argument(
        '--threads', type=int, default=None, help='torch CPU threads')
    parser.add_argument('--seed', type=int, default=0)


def check_step_args(parser: argparse.ArgumentParser,
                    args: argparse.Namespace) -> None:
    """Exit through ``parser.error`` where :func:`add_step_args`' options
    cannot be met."""
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: no CUDA device is available')
    if args.precisions is None:
        args.precisions = default_precisions(args.device)


def default_precisions(device: str) -> List[str]:
    """fp32 and bf16; on a CPU without bf16 instructions fp32 alone (its
    bf16 is emulated: a 2048 matmul ran 120x slower than in fp32 on a
    2-core AVX2 EPYC), with a note saying how to force it."""
    if device == 'cpu' and not cpu_has_native_bf16():
        print(
            'bf16 left out: this CPU has no bf16 instructions (it would be '
            'emulated, ~100x slower than fp32); --precisions fp32 bf16 '
            'forces it',
            file=sys.stderr)
        return ['fp32']
    return ['fp32', 'bf16']


def apply_step_args(args: argparse.Namespace) -> None:
    """Set torch's CPU threads (``--threads``) and keep mmengine's logger
    to errors, so that the benchmark's output is its own."""
    if args.threads:
        torch.set_num_threads(args.threads)
    MMLogger.get_current_instance().setLevel('ERROR')


def time_rounds(args: argparse.Namespace,
                contenders: Sequence[Steppable],
                unit: str,
                step: StepFn = timed_step) -> None:
    """:func:`~mixmim_tools.benchmark.measure.measure_interleaved` with the
    step options (and ``step``), saying ``<unit> <done>/<total> done`` on
    stderr after every round."""
    measure_interleaved(
        contenders,
        args.precisions,
        args.iters,
        args.warmup,
        args.device,
        step=step,
        progress=lambda done, total: print(
            f'{unit} {done}/{total} done', file=sys.stderr, flush=True))
