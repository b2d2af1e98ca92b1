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
import os.path as osp
import statistics
import sys
from typing import Dict, List

import torch
from mmengine.config import Config
from mmengine.hub import get_config
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS

import mixmim_plugin  # noqa: F401
from mixmim_plugin.converters import mmpretrain_to_plugin
from mixmim_plugin.registry import MODELS
from mixmim_plugin.utils.benchmark import (bf16_peak_tflops, count_parameters,
                                           return_freed_memory, step_flops,
                                           step_peak_memory, timed_step)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PLUGIN_CFG = osp.join(ROOT, 'configs/mixmim/mixmim-b_8xb128_600e.py')
MMPRETRAIN_CFG = ('mmpretrain::mixmim/'
                  'mixmim_mixmim-base_16xb128-coslr-300e_in1k.py')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='MixMIM-B training step: plugin vs mmpretrain')
    parser.add_argument('--batch', type=int, default=4)
    parser.add_argument('--iters', type=int, default=6)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument(
        '--precisions',
        nargs='+',
        default=['fp32', 'bf16'],
        choices=['fp32', 'bf16', 'fp16'])
    parser.add_argument(
        '--device',
        default='cuda' if torch.cuda.is_available() else 'cpu',
        choices=['cpu', 'cuda'])
    parser.add_argument(
        '--threads', type=int, default=None, help='torch CPU threads')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    if args.batch < 2 or args.batch % 2:
        parser.error(f'--batch must be even and >= 2 (MixMIM mixes pairs), '
                     f'got {args.batch}')
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: no CUDA device is available')
    return args


class Contender:
    """A model, its optimizer and a closure computing its loss."""

    def __init__(self, name: str, model, optim_cfg: dict, loss_fn) -> None:
        self.name = name
        self.model = model
        with DefaultScope.overwrite_default_scope('mixmim_plugin'):
            self.optimizer = build_optim_wrapper(model, optim_cfg).optimizer
        self.loss_fn = loss_fn
        self.times: Dict[str, List[Dict[str, float]]] = {}
        self.memory: Dict[str, int] = {}
        self.flops = 0


def build_contenders(args, images: torch.Tensor,
                     masks: torch.Tensor) -> List[Contender]:
    ref_cfg = get_config(MMPRETRAIN_CFG)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        ref = MMPRETRAIN_MODELS.build(ref_cfg.model)
    ref.init_weights()
    ours_cfg = Config.fromfile(PLUGIN_CFG)
    with DefaultScope.overwrite_default_scope('mixmim_plugin'):
        ours = MODELS.build(ours_cfg.model)
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
    for it in range(args.warmup + args.iters):
        for precision in args.precisions:
            for c in contenders:
                t = timed_step(c.loss_fn, c.optimizer, args.device, precision)
                if it >= args.warmup:
                    c.times.setdefault(precision, []).append(t)
        print(
            f'iteration {it + 1}/{args.warmup + args.iters} done',
            file=sys.stderr,
            flush=True)
    for c in contenders:
        c.flops = step_flops(c.loss_fn)
        c.optimizer.zero_grad(set_to_none=True)
    if args.device == 'cpu' and not return_freed_memory():
        print(
            'glibc mallopt unavailable: CPU peak memory not measured',
            file=sys.stderr)
        return
    for precision in args.precisions:
        for c in contenders:
            c.memory[precision] = step_peak_memory(
                lambda: timed_step(c.loss_fn, c.optimizer, args.device,
                                   precision), args.device)


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


def device_name(device: str) -> str:
    if device == 'cuda':
        return torch.cuda.get_device_name()
    import platform
    return f'CPU ({platform.processor() or platform.machine()})'


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    MMLogger.get_current_instance().setLevel('ERROR')
    torch.manual_seed(args.seed)
    images = torch.randn(args.batch, 3, 224, 224, device=args.device)
    masks = random_masks(args.batch, args.seed).to(args.device)
    contenders = build_contenders(args, images, masks)
    measure(args, contenders)
    print('\n'.join(report(args, contenders)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
