"""Training-step speed and peak memory: the plugin's MixMIM-B against
mmpretrain's MixMIM-B, on the same device, batch and input, in one run.

    python tools/analysis_tools/benchmark_pretrain.py [--batch 4]
        [--iters 6] [--warmup 2] [--precisions fp32 bf16] [--device cpu]
        [--compile] [--out benchmark_pretrain.md]

Both models are built from their configs (the plugin's
configs/mixmim/mixmim-b_8xb128_600e.py, mmpretrain's
mixmim_mixmim-base_16xb128-coslr-300e_in1k.py); the plugin's starts from
mmpretrain's initial weights (converted). A step is forward + backward +
optimizer step, each side with the optimizer of its own config (mmpretrain:
AdamW; plugin: fused AdamW) -- the forward + backward columns compare the
models alone. Steps alternate between the two models at every precision and
iteration, so machine noise hits both alike; medians are reported. Peak
memory is measured afterwards, again interleaved: on CUDA from the allocator,
on CPU as the rise of the resident-set high-water mark during a step (glibc
is told to return freed memory at once for that phase).

The same run measures the machine's dense matmul throughput (square 2048
and 4096 products) at fp32 and bf16, and prints ``fraction of bf16 matmul
peak: NN%``: the plugin's bf16 step FLOPs per second over that. On a GPU
the achieved column also gives the vendor's bf16/fp16 dense peak fraction.

``--compile`` adds a third contender, the plugin's ``forward_train``
under ``torch.compile(fullgraph=True)`` (inductor, from an empty cache), and
reports its compile time (its first step at each precision minus an eager
step) and its step against the eager plugin's. Its FLOPs are counted on
the eager forward with the layout compiled code uses (masked windows in
every stage).

The last line is ``speedup fp32: X.XXx  bf16: Y.YYx``: mmpretrain's step
time divided by the plugin's at the same precision. ``--out`` also writes
the report to a file.
"""
import argparse
import os
import statistics
import sys
import tempfile
from contextlib import contextmanager
from typing import Callable, Dict, List, Optional

import torch
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

from mixmim_plugin.converters import mmpretrain_to_plugin
from mixmim_plugin.models.backbones import MixMIMEncoder
from ..benchmark.measure import (bf16_peak_tflops, count_parameters,
                                 device_name, matmul_tflops, measure_memory,
                                 step_flops, timed_step)
from ..configs import build_model, load_config, plugin_config
from .benchmarking import (add_step_args, apply_step_args, check_step_args,
                           time_rounds)

PLUGIN_CFG = 'mixmim/mixmim-b_8xb128_600e.py'  # under the plugin's configs/
MMPRETRAIN_CFG = ('mmpretrain::mixmim/'
                  'mixmim_mixmim-base_16xb128-coslr-300e_in1k.py')
DTYPES = dict(fp32=torch.float32, bf16=torch.bfloat16, fp16=torch.float16)
Peaks = Dict[str, float]  # precision -> measured matmul TFLOP/s


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='MixMIM-B training step: plugin vs mmpretrain')
    add_step_args(parser)
    parser.add_argument(
        '--compile',
        action='store_true',
        help='also time the plugin compiled with torch.compile (minutes of '
        'compilation on a CPU)')
    parser.add_argument('--out', help='also write the report to this file')
    args = parser.parse_args(argv)
    if args.batch < 2 or args.batch % 2:
        parser.error(f'--batch must be even and >= 2 (MixMIM mixes pairs), '
                     f'got {args.batch}')
    check_step_args(parser, args)
    return args


class Contender:
    """A model, its optimizer wrapper and a closure computing its loss (a
    :class:`~mixmim_tools.benchmark.measure.Steppable`)."""

    def __init__(self,
                 name: str,
                 model,
                 optim_cfg: dict,
                 loss: Callable[[], torch.Tensor],
                 counted: Optional[Callable[[], torch.Tensor]] = None) -> None:
        self.name = name
        self.model = model
        with DefaultScope.overwrite_default_scope('mixmim_plugin'):
            self.optim_wrapper = build_optim_wrapper(model, optim_cfg)
        self.loss = loss
        # an eager closure doing the same work, for the FLOP counter (which
        # a compiled function does not run under)
        self.counted = counted or loss
        self.times: Dict[str, List[Dict[str, float]]] = {}
        self.memory: Dict[str, Optional[int]] = {}
        self.flops = 0
        self.compile_s: Dict[str, float] = {}


def build_contenders(args, images: torch.Tensor,
                     masks: torch.Tensor) -> List[Contender]:
    ref_cfg = load_config(MMPRETRAIN_CFG)
    ref = build_model(ref_cfg)
    ref.init_weights()
    ours_cfg = load_config(plugin_config(PLUGIN_CFG))
    ours = build_model(ours_cfg)
    ours.load_state_dict(mmpretrain_to_plugin(ref.state_dict()), strict=True)
    ref.to(args.device).train()
    ours.to(args.device).train()
    # each side's own optimizer; precision is set by the benchmark
    ref_optim = dict(ref_cfg.optim_wrapper, type='OptimWrapper')
    ours_optim = dict(ours_cfg.optim_wrapper, type='OptimWrapper')
    ours_optim.pop('loss_scale', None)
    paired = ours.pair_masks(masks)
    contenders = [
        Contender('mmpretrain MixMIM-B', ref, ref_optim,
                  lambda: ref.loss(images, [])['loss']),
        Contender('plugin MixMIM-B', ours, ours_optim,
                  lambda: ours.forward_train(images, paired)['loss']),
    ]
    if args.compile:
        fresh_compile_cache()
        compiled = torch.compile(ours.forward_train, fullgraph=True)

        def masked_layout_loss() -> torch.Tensor:
            """The eager forward with the layout compiled code uses."""
            with masked_windows(ours.backbone):
                return ours.forward_train(images, paired)['loss']

        contenders.append(
            Contender('plugin MixMIM-B compiled', ours, ours_optim,
                      lambda: compiled(images, paired)['loss'],
                      masked_layout_loss))
    return contenders


def fresh_compile_cache() -> None:
    """Point inductor at an empty cache (unless $TORCHINDUCTOR_CACHE_DIR is
    set), so that the compile time reported is a first run's: with the
    cache of an earlier run, MixMIM-B compiled in 55 s instead of 261 s."""
    if 'TORCHINDUCTOR_CACHE_DIR' not in os.environ:
        os.environ['TORCHINDUCTOR_CACHE_DIR'] = tempfile.mkdtemp(
            prefix='inductor_')


@contextmanager
def masked_windows(encoder: MixMIMEncoder):
    """Make every stage of ``encoder`` use the masked window layout, as it
    does under torch.compile (:func:`~mixmim_plugin.models.utils.
    token_layout.build_layout`)."""
    for stage in encoder.layers:
        stage.grouped = False
    try:
        yield
    finally:
        for stage in encoder.layers:
            del stage.grouped


def random_masks(batch: int, seed: int) -> torch.Tensor:
    """Per-sample 7x7 masks with 24 True units, as MixMaskGenerator."""
    g = torch.Generator().manual_seed(seed)
    masks = torch.zeros(batch, 49, dtype=torch.bool)
    for b in range(batch):
        masks[b, torch.randperm(49, generator=g)[:24]] = True
    return masks.view(batch, 7, 7)


def compile_first(args, contenders: List[Contender]) -> None:
    """Run each compiled contender's first step at every precision (where
    it compiles) and keep its seconds beyond an eager step."""
    eager, compiled = contenders[1], contenders[2:]
    for c in compiled:
        for precision in args.precisions:
            first = timed_step(c.loss, c.optim_wrapper, args.device, precision)
            again = timed_step(eager.loss, eager.optim_wrapper, args.device,
                               precision)
            c.compile_s[precision] = sum(first.values()) - sum(again.values())
            print(
                f'compiled at {precision} in {c.compile_s[precision]:.0f} s',
                file=sys.stderr,
                flush=True)


def measure(args, contenders: List[Contender]) -> Peaks:
    """Time, count and measure the contenders; returns the machine's matmul
    TFLOP/s per precision measured in the same run."""
    compile_first(args, contenders)
    time_rounds(args, contenders, 'iteration')
    for c in contenders:
        c.flops = step_flops(c.counted)
        c.optim_wrapper.zero_grad(set_to_none=True)
    peaks = {
        p: matmul_tflops(args.device, DTYPES[p])
        for p in ['fp32'] + [p for p in args.precisions if p != 'fp32']
    }
    if not measure_memory(contenders, args.precisions, args.device):
        print(
            'glibc mallopt unavailable: CPU peak memory not measured',
            file=sys.stderr)
    return peaks


def median(values: List[float]) -> float:
    return statistics.median(values)


def step_seconds(c: Contender, precision: str, key: str = 'fwd_bwd+optim'):
    """Median seconds of ``key`` (``'+'``-joined time fields)."""
    return median(
        [sum(r[k] for k in key.split('+')) for r in c.times[precision]])


def report(args, contenders: List[Contender], peaks: Peaks) -> List[str]:
    lines = [
        f'device: {device_name(args.device)}, batch {args.batch}, 224x224, '
        f'{args.iters} timed steps after {args.warmup} warm-up, '
        f'torch threads {torch.get_num_threads()}', '',
        '| model | precision | params (M) | fwd+bwd (s) | optimizer (s) '
        '| step (s) | images/s | achieved TFLOP/s | peak memory (MiB) |',
        '|---|---|---|---|---|---|---|---|---|'
    ]
    vendor = bf16_peak_tflops(device_name(args.device))
    for precision in args.precisions:
        for c in contenders:
            step = step_seconds(c, precision)
            tflops = c.flops / step / 1e12
            mem = c.memory.get(precision)
            mem_text = f'{mem / 2**20:.0f}' if mem is not None else 'n/a'
            tflops_text = f'{tflops:.3f} ({tflops / peaks[precision]:.0%})'
            if vendor and precision != 'fp32':
                tflops_text += f', {tflops / vendor:.1%} of vendor peak'
            lines.append(
                f'| {c.name} | {precision} | '
                f'{count_parameters(c.model) / 1e6:.2f} | '
                f'{step_seconds(c, precision, "fwd_bwd"):.3f} | '
                f'{step_seconds(c, precision, "optim"):.3f} | {step:.3f} | '
                f'{args.batch / step:.2f} | {tflops_text} | {mem_text} |')
    lines += [
        '', 'achieved TFLOP/s: counted matmul FLOPs of a step per second '
        '(in brackets: the fraction of the matmul throughput measured '
        'below)', 'matmul throughput (square 2048 and 4096 products): ' +
        '  '.join(f'{p}: {t:.3f} TFLOP/s' for p, t in peaks.items()), ''
    ]
    ref, ours, *compiled = contenders
    for c in compiled:
        lines.append('compile time: ' +
                     '  '.join(f'{p}: {c.compile_s[p]:.0f} s'
                               for p in args.precisions))
        lines.append('compiled step over eager step, plugin: ' + '  '.join(
            f'{p}: {step_seconds(ours, p) / step_seconds(c, p):.2f}x'
            for p in args.precisions))

    def speedup(key: str) -> str:
        ratios = [(p, step_seconds(ref, p, key) / step_seconds(ours, p, key))
                  for p in args.precisions]
        return '  '.join(f'{p}: {r:.2f}x' for p, r in ratios)

    lines.append('forward+backward only: ' + speedup('fwd_bwd'))
    mems = [
        f'{p}: {ours.memory[p] / ref.memory[p]:.2f}x' for p in args.precisions
        if ours.memory.get(p) and ref.memory.get(p)
    ]
    if mems:
        lines.append('peak memory, plugin / mmpretrain: ' + '  '.join(mems))
    low = [p for p in args.precisions if p != 'fp32']
    for p in low:
        fraction = ours.flops / step_seconds(ours, p) / 1e12 / peaks[p]
        lines.append(f'fraction of {p} matmul peak: {fraction:.0%}')
    lines.append('speedup ' + speedup('fwd_bwd+optim'))
    return lines


def main(argv=None) -> int:
    args = parse_args(argv)
    apply_step_args(args)
    torch.manual_seed(args.seed)
    images = torch.randn(args.batch, 3, 224, 224, device=args.device)
    masks = random_masks(args.batch, args.seed).to(args.device)
    contenders = build_contenders(args, images, masks)
    peaks = measure(args, contenders)
    text = '\n'.join(report(args, contenders, peaks))
    print(text)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text + '\n')
    return 0
