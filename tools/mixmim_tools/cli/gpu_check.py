"""The prepared GPU check: everything the project verifies only on a CUDA
GPU, in one call that fits a short lease.

    bash tools/analysis_tools/gpu_check.sh [--out-dir work_dirs/gpu_check]
        [--batches 64 128] [--precisions fp16 bf16] [--iters 10]
        [--warmup 3] [--budget 480]

Steps, each a subprocess given what is left of ``--budget`` seconds:

1. the CUDA-only tests (``pytest -m cuda tests/test_cuda.py``): SDPA with
   the relative-position bias and the -inf masks against the written-out
   product, fp16 AMP MixMIM-B steps staying finite with the loss scaler,
   bf16 steps against fp32;
2. ``benchmark_pretrain.py --device cuda`` at every ``--batches`` size:
   plugin vs mmpretrain MixMIM-B at ``--precisions`` (images/s, the
   fraction of the GPU's bf16 peak, peak memory).

Writes ``<out-dir>/gpu_check.md`` (the tests' summary and every table) and
``<out-dir>/gpu_check.log`` (all output). A step that runs out of time is
reported as such and the steps after it are listed as not run. Exit status:
0 when every step passed, 1 when one failed or was not run, 2 when there is
no CUDA GPU (nothing is run then).
"""
import argparse
import os
import os.path as osp
import subprocess
import sys
import time
from typing import List, NamedTuple, Optional

import torch

from ..benchmark.measure import PRECISIONS

REPO = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.realpath(__file__)))))
NO_GPU = ('gpu_check: no CUDA GPU is visible (torch.cuda.is_available() is '
          'False); run it on a machine with one. Nothing was run.')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='CUDA-only tests and the MixMIM-B GPU benchmark')
    parser.add_argument('--out-dir', default='work_dirs/gpu_check')
    parser.add_argument('--batches', type=int, nargs='+', default=[64, 128])
    parser.add_argument(
        '--precisions',
        nargs='+',
        default=['fp16', 'bf16'],
        choices=PRECISIONS)
    parser.add_argument('--iters', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument(
        '--budget',
        type=float,
        default=480.,
        help='seconds for all steps together (default: 8 minutes)')
    args = parser.parse_args(argv)
    bad = [b for b in args.batches if b < 2 or b % 2]
    if bad:
        parser.error(f'--batches must be even and >= 2 (MixMIM mixes '
                     f'pairs), got {bad}')
    if args.iters < 1 or args.warmup < 0 or args.budget <= 0:
        parser.error('--iters must be >= 1, --warmup >= 0, --budget > 0')
    return args


class Step(NamedTuple):
    title: str
    command: List[str]


def steps(args: argparse.Namespace) -> List[Step]:
    """The commands of the check, in order."""
    py = sys.executable
    tests = Step('CUDA-only tests', [
        py, '-m', 'pytest',
        osp.join(REPO, 'tests', 'test_cuda.py'), '-m', 'cuda', '-q', '-p',
        'no:cacheprovider'
    ])
    bench = osp.join(REPO, 'tools', 'analysis_tools', 'benchmark_pretrain.py')
    return [tests] + [
        Step(f'MixMIM-B training step, batch {batch}', [
            py, bench, '--device', 'cuda', '--batch',
            str(batch), '--iters',
            str(args.iters), '--warmup',
            str(args.warmup), '--precisions', *args.precisions
        ]) for batch in args.batches
    ]


class Outcome(NamedTuple):
    status: str  # 'passed', 'failed', 'timed out' or 'not run'
    output: str
    seconds: float


def run_step(step: Step, timeout: Optional[float]) -> Outcome:
    """Run one step with what is left of the budget (None or <= 0: not
    run)."""
    if timeout is None or timeout <= 0:
        return Outcome('not run', 'the time budget was spent', 0.)
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            step.command,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            env=dict(os.environ, PYTHONUNBUFFERED='1'))
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout or ''
        if isinstance(out, bytes):
            out = out.decode(errors='replace')
        return Outcome(f'timed out after {timeout:.0f} s', out,
                       time.perf_counter() - start)
    status = 'passed' if proc.returncode == 0 else (
        f'failed (exit status {proc.returncode})')
    return Outcome(status, proc.stdout, time.perf_counter() - start)


def summary(step: Step, outcome: Outcome) -> List[str]:
    """The markdown section of one step: its status and, for a benchmark,
    its table (the lines from the ``device:`` line on); for the tests, the
    last line of pytest's output."""
    lines = [
        f'## {step.title}: {outcome.status} ({outcome.seconds:.0f} s)', '',
        '`' + ' '.join(
            osp.relpath(a, REPO) if a.startswith(REPO) else a
            for a in step.command[1:]) + '`', ''
    ]
    out = outcome.output.rstrip().splitlines()
    table = [i for i, line in enumerate(out) if line.startswith('device:')]
    if table:
        lines += out[table[-1]:]
    elif out:
        lines += ['```'] + out[-15:] + ['```']
    return lines + ['']


def main(argv=None) -> int:
    args = parse_args(argv)
    if not torch.cuda.is_available():
        print(NO_GPU, file=sys.stderr)
        return 2
    os.makedirs(args.out_dir, exist_ok=True)
    deadline = time.perf_counter() + args.budget
    report = [f'# GPU check: {torch.cuda.get_device_name()}', '']
    log, ok = [], True
    for step in steps(args):
        print(f'gpu_check: {step.title} ...', file=sys.stderr, flush=True)
        outcome = run_step(step, deadline - time.perf_counter())
        ok &= outcome.status == 'passed'
        log += [f'==== {step.title}: {outcome.status}', outcome.output]
        report += summary(step, outcome)
        print(f'gpu_check: {step.title}: {outcome.status}', file=sys.stderr)
    with open(osp.join(args.out_dir, 'gpu_check.log'), 'w') as f:
        f.write('\n'.join(log))
    with open(osp.join(args.out_dir, 'gpu_check.md'), 'w') as f:
        f.write('\n'.join(report))
    print('\n'.join(report))
    return 0 if ok else 1
