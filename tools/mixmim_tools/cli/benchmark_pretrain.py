"""Training-step speed and peak memory: the plugin's MixMIM-B against
mmpretrain's MixMIM-B, on the same device, batch and input, in one run.

    python tools/analysis_tools/benchmark_pretrain.py [--batch 4]
        [--iters 6] [--warmup 2] [--precisions fp32 bf16] [--device cpu]

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

The last line is ``speedup fp32: X.XXx  bf16: Y.YYx``: mmpretrain's step
time divided by the plugin's at the same precision.
"""
import argparse
import statistics
import sys
from typing import Callable, Dict, List, Optional

import torch
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

from mixmim_plugin.converters import mmpretrain_to_plugin
from ..benchmark.measure import (bf16_peak_tflops, count_parameters,
                                 device_name, measure_memory, step_flops)
from ..configs import build_model, load_config, plugin_config
from .benchmarking import (add_step_args, apply_step_args, check_step_args,
                           time_rounds)

PLUGIN_CFG = 'mixmim/mixmim-b_8xb128_600e.py'  # under the plugin's configs/
MMPRETRAIN_CFG = ('mmpretrain::mixmim/'
                  'mixmim_mixmim-base_16xb128-coslr-300e_in1k.py')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='MixMIM-B training step: plugin vs mmpretrain')
    add_step_args(parser)
    args = parser.parse_args(argv)
    if args.batch < 2 or args.batch % 2:
        parser.error(f'--batch must be even and >= 2 (MixMIM mixes pairs), '
                     f'got {args.batch}')
    check_step_args(parser, args)
    return args


class Contender:
    """A model, its optimizer wrapper and a closure computing its loss (a
    :class:`~mixmim_tools.benchmark.measure.Steppable`)."""

    def __init__(self, name: str, model, optim_cfg: dict,
                 loss: Callable[[], torch.Tensor]) -> None:
        self.name = name
        self.model = model
        with DefaultScope.overwrite_default_scope('mixmim_plugin'):
            self.optim_wrapper = build_optim_wrapper(model, optim_cfg)
        self.loss = loss
        self.times: Dict[str, List[Dict[str, float]]] = {}
        self.memory: Dict[str, Optional[int]] = {}
        self.flops = 0


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
    return [
        Contender('mmpretrain MixMIM-B', ref, ref_optim,
                  lambda: ref.loss(images, [])['loss']),
        Contender('plugin MixMIM-B', ours, ours_optim,
                  lambda: ours.forward_train(images, paired)['loss']),
    ]


def random_masks(batch: int, seed: int) -> torch.Tensor:
    """Per-sample 7x7 masks with 24 True units, as MixMaskGenerator."""
    g = torch.Generator().manual_seed(seed)
    masks = torch.zeros(batch, 49, dtype=torch.bool)
    for b in range(batch):
        masks[b, torch.randperm(49, generator=g)[:24]] = True
    return masks.view(batch, 7, 7)


def measure(args, contenders: List[Contender]) -> None:
    time_rounds(args, contenders, 'iteration')
    for c in contenders:
        c.flops = step_flops(c.loss)
        c.optim_wrapper.zero_grad(set_to_none=True)
    if not measure_memory(contenders, args.precisions, args.device):
        print(
            'glibc mallopt unavailable: CPU peak memory not measured',
            file=sys.stderr)


def median(values: List[float]) -> float:
    return statistics.median(values)


def report(args, contenders: List[Contender]) -> List[str]:
    lines = [
        f'device: {device_name(args.device)}, batch {args.batch}, 224x224, '
        f'{args.iters} timed steps after {args.warmup} warm-up, '
        f'torch threads {torch.get_num_threads()}', '',
        '| model | precision | params (M) | fwd+bwd (s) | optimizer (s) '
        '| step (s) | images/s | achieved TFLOP/s | peak memory (MiB) |',
        '|---|---|---|---|---|---|---|---|---|'
    ]
    peak = bf16_peak_tflops(device_name(args.device))
    for precision in args.precisions:
        for c in contenders:
            runs = c.times[precision]
            fb = median([r['fwd_bwd'] for r in runs])
            opt = median([r['optim'] for r in runs])
            step = median([r['fwd_bwd'] + r['optim'] for r in runs])
            tflops = c.flops / step / 1e12
            mem = c.memory.get(precision)
            mem_text = f'{mem / 2**20:.0f}' if mem is not None else 'n/a'
            if peak and precision == 'bf16':
                tflops_text = f'{tflops:.1f} ({tflops / peak:.1%} of peak)'
            else:
                tflops_text = f'{tflops:.3f}'
            lines.append(f'| {c.name} | {precision} | '
                         f'{count_parameters(c.model) / 1e6:.2f} | {fb:.3f} | '
                         f'{opt:.3f} | {step:.3f} | {args.batch / step:.2f} | '
                         f'{tflops_text} | {mem_text} |')
    lines.append('')
    ref, ours = contenders

    def ratio(key: str, precision: str) -> float:

        def total(c):
            return median([
                sum(r[k] for k in key.split('+')) for r in c.times[precision]
            ])

        return total(ref) / total(ours)

    lines.append('forward+backward only: ' +
                 '  '.join(f'{p}: {ratio("fwd_bwd", p):.2f}x'
                           for p in args.precisions))
    mems = [
        f'{p}: {ours.memory[p] / ref.memory[p]:.2f}x' for p in args.precisions
        if ours.memory.get(p) and ref.memory.get(p)
    ]
    if mems:
        lines.append('peak memory, plugin / mmpretrain: ' + '  '.join(mems))
    lines.append('speedup ' +
                 '  '.join(f'{p}: {ratio("fwd_bwd+optim", p):.2f}x'
                           for p in args.precisions))
    return lines


def main(argv=None) -> int:
    args = parse_args(argv)
    apply_step_args(args)
    torch.manual_seed(args.seed)
    images = torch.randn(args.batch, 3, 224, 224, device=args.device)
    masks = random_masks(args.batch, args.seed).to(args.device)
    contenders = build_contenders(args, images, masks)
    measure(args, contenders)
    print('\n'.join(report(args, contenders)))
    return 0
