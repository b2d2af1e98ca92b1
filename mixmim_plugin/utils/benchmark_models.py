"""Benchmarking pretraining configs side by side.

Each config (a plugin config path or ``<package>::<path>``, e.g.
``mmpretrain::mae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py``) becomes
a :class:`Contender`: its model (``Pretrained`` init_cfgs stripped, so random
weights, since timing does not depend on them and checkpoints cannot be
downloaded offline), its own optimizer (GPU-only or autocast optimizer
wrappers replaced by a plain ``OptimWrapper``; precision is applied by
autocast around the forward) and one real input batch: synthetic images run
through the config's own train pipeline (so multi-view and mask transforms
are the config's), collated with ``default_collate`` and passed through the
model's ``data_preprocessor``. The step is ``model(inputs, data_samples,
mode='loss')``, ``parse_losses``, backward and the optimizer step.

Timings of all contenders are taken interleaved (round-robin over the models
at every iteration and precision) so that machine noise hits them alike;
medians are reported. Used by ``tools/analysis_tools/benchmark_models.py``.
"""
import importlib.util
import inspect
import math
import os
import os.path as osp
import random
import statistics
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.analysis import FlopAnalyzer
from mmengine.analysis.jit_handles import get_shape
from mmengine.config import Config
from mmengine.dataset import Compose, default_collate
from mmengine.hub import get_config
from mmengine.optim import OptimWrapper, build_optim_wrapper
from mmengine.registry import MODELS, DefaultScope
from torch import Tensor, nn

from ..engine.optimizers.per_param_clip import PER_PARAM
from .benchmark import (count_parameters, return_freed_memory, state_bytes,
                        step_flops, step_peak_memory, timed_step)

PRECISIONS = ('fp32', 'bf16', 'fp16')
# optimizer wrappers whose only job is mixed precision: replaced by
# OptimWrapper (AmpOptimWrapper needs CUDA); these keys belong to them only
PRECISION_WRAPPERS = ('AmpOptimWrapper', 'AutocastOptimWrapper',
                      'DeviceAmpOptimWrapper')
PRECISION_WRAPPER_KEYS = ('loss_scale', 'dtype', 'device_type', 'cpu_dtype',
                          'use_fsdp')
SIZE_KEYS = ('img_size', 'input_size', 'scale', 'crop_size')

StepFn = Callable[..., Dict[str, float]]


class BenchmarkError(RuntimeError):
    """A config that cannot be benchmarked: names the config, the stage
    that failed and why."""

    def __init__(self, config: str, stage: str, reason: str) -> None:
        self.config = config
        self.stage = stage
        self.reason = reason
        super().__init__(f'{config}: cannot {stage}: {reason}')


def _reason(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    if isinstance(error, PipelineError):
        return text[0]
    return f'{type(error).__name__}: {text[0] if text else ""}'.rstrip(': ')


# ------------------------------------------------------------------ configs
def load_config(path: str) -> Config:
    """A config from a file path or ``<package>::<relative path>`` (the
    package must be installed: nothing is downloaded)."""
    if '::' in path:
        package = path.split('::', 1)[0]
        if importlib.util.find_spec(package) is None:
            raise FileNotFoundError(f'package {package!r} is not installed')
        return get_config(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'no such config file: {path}')
    return Config.fromfile(path)


def config_label(path: str) -> str:
    """A short name: the file name without ``.py``, prefixed by the package
    for ``<package>::`` configs."""
    stem = osp.splitext(osp.basename(path.split('::')[-1]))[0]
    return f'{path.split("::")[0]}:{stem}' if '::' in path else stem


def strip_pretrained(node, path: str = 'model') -> List[str]:
    """Remove, in place, every ``init_cfg`` of type ``Pretrained`` and every
    ``pretrained`` checkpoint string under a model config; returns the
    dotted paths removed."""
    removed = []
    if isinstance(node, (list, tuple)):
        for i, item in enumerate(node):
            removed += strip_pretrained(item, f'{path}[{i}]')
        return removed
    if not isinstance(node, dict):
        return removed
    for key, value in list(node.items()):
        where = f'{path}.{key}'
        if key == 'init_cfg' and _is_pretrained(value):
            node[key] = None
            removed.append(where)
        elif key == 'init_cfg' and isinstance(value, (list, tuple)) and any(
                _is_pretrained(v) for v in value):
            node[key] = [v for v in value if not _is_pretrained(v)]
            removed.append(where)
        elif key == 'pretrained' and isinstance(value, str):
            node[key] = None
            removed.append(where)
        else:
            removed += strip_pretrained(value, where)
    return removed


def _is_pretrained(init_cfg) -> bool:
    return isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained'


def train_pipeline(cfg: Config) -> list:
    """The train dataset's pipeline (looking through dataset wrappers)."""
    dataset = cfg.get('train_dataloader', {}).get('dataset')
    while isinstance(dataset, dict):
        if 'pipeline' in dataset:
            return dataset['pipeline']
        dataset = dataset.get('dataset')
    raise KeyError('the config has no train_dataloader.dataset.pipeline')


def set_input_size(cfg: Config, size: int) -> int:
    """Change the training resolution of a config in place; returns the
    config's own.

    The crop size is the ``scale`` or ``crop_size`` of the first train
    transform that has an integer one. Every ``img_size``, ``input_size``,
    ``scale`` or ``crop_size`` equal to it in the model and the pipeline
    becomes ``size``, and every ``num_patches`` is scaled by the area ratio.
    Where the backbone, neck or head leaves ``img_size`` or
    ``num_patches`` to its constructor's default, the default is replaced
    the same way. Other size-dependent settings (window sizes, position
    grids) are left alone: a model they do not fit fails to build or run,
    which is reported.
    """
    pipeline = train_pipeline(cfg)
    old = crop_size(pipeline)
    if old is None:
        raise ValueError('no crop size (an integer scale or crop_size) in the '
                         'train pipeline to change')
    for part in ('backbone', 'neck', 'head'):
        if isinstance(cfg.model.get(part), dict):
            _spell_out_defaults(cfg, cfg.model[part],
                                ('img_size', 'num_patches'))
    _resize_node(cfg.model, old, size)
    _resize_node(pipeline, old, size)
    return old


def _spell_out_defaults(cfg: Config, module: dict,
                        keys: Sequence[str]) -> None:
    """Write into ``module`` the constructor defaults of those ``keys`` it
    leaves out (nothing for a type that is not registered)."""
    with MODELS.switch_scope_and_registry(config_scope(cfg)) as registry:
        cls = registry.get(module.get('type', ''))
    if cls is None:
        return
    params = inspect.signature(cls.__init__).parameters
    for key in keys:
        default = params[key].default if key in params else None
        if key not in module and isinstance(default, int):
            module[key] = default


def crop_size(node) -> Optional[int]:
    """The first integer ``scale`` or ``crop_size`` in a pipeline (searched
    depth first through nested transforms), or None."""
    if isinstance(node, (list, tuple)):
        for item in node:
            found = crop_size(item)
            if found is not None:
                return found
    elif isinstance(node, dict):
        for key in ('scale', 'crop_size'):
            if isinstance(node.get(key), int):
                return node[key]
        return crop_size(list(node.values()))
    return None


def _resize_node(node, old: int, new: int) -> None:
    if isinstance(node, (list, tuple)):
        for item in node:
            _resize_node(item, old, new)
        return
    if not isinstance(node, dict):
        return
    for key, value in list(node.items()):
        if key in SIZE_KEYS and value == old:
            node[key] = new
        elif key == 'num_patches' and isinstance(value, int):
            scaled = value * new * new / (old * old)
            if scaled != int(scaled):
                raise ValueError(f'num_patches={value} at {old} pixels does '
                                 f'not scale to {new} pixels')
            node[key] = int(scaled)
        else:
            _resize_node(value, old, new)


def plain_optim_wrapper(optim_cfg: dict) -> Tuple[dict, Optional[str]]:
    """The optimizer wrapper config with mixed-precision wrappers replaced
    by ``OptimWrapper`` (same optimizer, clipping and paramwise settings;
    ``PerParamClipOptimWrapper`` where the clipping is per parameter);
    also returns a note saying what was replaced, or None."""
    optim_cfg = dict(optim_cfg)
    kind = str(optim_cfg.get('type', 'OptimWrapper'))
    if kind.split('.')[-1] not in PRECISION_WRAPPERS:
        return optim_cfg, None
    per_param = (optim_cfg.get('clip_grad') or {}).get('type') == PER_PARAM
    plain = 'PerParamClipOptimWrapper' if per_param else 'OptimWrapper'
    optim_cfg['type'] = f'mixmim_plugin.{plain}' if per_param else plain
    for key in PRECISION_WRAPPER_KEYS:
        optim_cfg.pop(key, None)
    return optim_cfg, f'{kind} -> {plain} (precision by autocast)'


# -------------------------------------------------------------- contenders
@dataclass
class Contender:
    """One config's model, optimizer wrapper and input batch, and what was
    measured on it."""
    name: str
    config: str
    model: nn.Module
    optim_wrapper: OptimWrapper
    batch: dict
    notes: List[str] = field(default_factory=list)
    times: Dict[str, List[Dict[str, float]]] = field(default_factory=dict)
    memory: Dict[str, Optional[int]] = field(default_factory=dict)
    fwd_flops: Optional[float] = None  # per image, 1 multiply-add = 1 FLOP
    flops_by: str = 'n/a'
    step_flops: Optional[int] = None  # whole batch, fwd + bwd, 2 per MAC

    def loss(self) -> Tensor:
        """The parsed training loss of the batch."""
        losses = self.model(
            self.batch['inputs'], self.batch['data_samples'], mode='loss')
        return self.model.parse_losses(losses)[0]

    @property
    def batch_size(self) -> int:
        inputs = self.batch['inputs']
        return (inputs if isinstance(inputs, Tensor) else inputs[0]).shape[0]

    @property
    def input_desc(self) -> str:
        """``'224x224'``, or ``'2x 224x224'`` for two views."""
        inputs = self.batch['inputs']
        views = [inputs] if isinstance(inputs, Tensor) else list(inputs)
        sizes = sorted({'x'.join(map(str, v.shape[-2:])) for v in views})
        prefix = f'{len(views)}x ' if len(views) > 1 else ''
        return prefix + '+'.join(sizes)


def synthetic_images(count: int, size: int, seed: int) -> List[np.ndarray]:
    """``count`` uint8 (size, size, 3) images: smooth colour gradients with
    noise (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 1, size, dtype=np.float32)
    images = []
    for _ in range(count):
        c0, c1 = rng.uniform(0, 255, (2, 3)).astype(np.float32)
        image = c0 + (c1 - c0) * ramp[None, :, None] * ramp[:, None, None]
        image += rng.normal(0, 20, image.shape).astype(np.float32)
        images.append(np.clip(image, 0, 255).astype(np.uint8))
    return images


def form_batch(cfg: Config, model: nn.Module, batch_size: int, seed: int,
               source_size: int) -> dict:
    """One training batch: synthetic images through the config's own train
    pipeline (its leading ``LoadImageFromFile`` skipped), ``default_collate``
    and the model's data preprocessor."""
    pipeline = list(train_pipeline(cfg))
    if not pipeline or pipeline[0].get('type') != 'LoadImageFromFile':
        raise ValueError('the train pipeline does not start with '
                         'LoadImageFromFile; synthetic images cannot be fed')
    with DefaultScope.overwrite_default_scope(config_scope(cfg)):
        transform = Compose(pipeline[1:])
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    samples = []
    for i, img in enumerate(synthetic_images(batch_size, source_size, seed)):
        sample = dict(
            img=img,
            img_shape=img.shape[:2],
            ori_shape=img.shape[:2],
            img_path=f'synthetic_{i}.png')
        for step in transform.transforms:
            sample = _apply(step, sample)
        samples.append(sample)
    return model.data_preprocessor(default_collate(samples), True)


class PipelineError(ValueError):
    """A train transform failed on a synthetic image."""


def _apply(transform: Callable, sample: dict) -> dict:
    name = type(transform).__name__
    try:
        sample = transform(sample)
    except Exception as error:
        raise PipelineError(
            f'train transform {name} failed: {_reason(error)}') from error
    if sample is None:
        raise PipelineError(f'train transform {name} dropped the sample')
    return sample


def config_scope(cfg: Config) -> str:
    return cfg.get('default_scope') or 'mmpretrain'


def build_contender(config: str,
                    device: str,
                    batch_size: int,
                    seed: int = 0,
                    name: Optional[str] = None,
                    img_size: Optional[int] = None) -> Contender:
    """Load, build and feed one config; any failure is a
    :class:`BenchmarkError` naming the config and the stage."""
    stage = 'load the config'
    try:
        cfg = load_config(config)
        notes = []
        if img_size is not None:
            stage = f'set the input size to {img_size}'
            old = set_input_size(cfg, img_size)
            notes.append(f'input size {old} -> {img_size}')
        stage = 'build the model'
        model = build_model(cfg, seed, notes)
        model.to(device).train()
        stage = 'build the optimizer'
        optim_cfg, note = plain_optim_wrapper(cfg.optim_wrapper)
        notes += [note] if note else []
        with DefaultScope.overwrite_default_scope(config_scope(cfg)):
            optim_wrapper = build_optim_wrapper(model, optim_cfg)
        stage = 'form an input batch'
        source = max(288, (img_size or 0) * 9 // 8)
        batch = form_batch(cfg, model, batch_size, seed, source)
    except Exception as error:
        raise BenchmarkError(config, stage, _reason(error)) from error
    contender = Contender(
        name or config_label(config), config, model, optim_wrapper, batch,
        notes)
    if img_size is not None and contender.input_desc.split(' ')[-1] != (
            f'{img_size}x{img_size}'):
        raise BenchmarkError(
            config, 'form an input batch', f'the pipeline gives '
            f'{contender.input_desc} inputs, not {img_size}x{img_size}')
    return contender


def build_model(cfg: Config, seed: int, notes: List[str]) -> nn.Module:
    """The config's model with random weights (``init_weights`` applied,
    ``Pretrained`` init_cfgs stripped and listed in ``notes``)."""
    stripped = strip_pretrained(cfg.model)
    if stripped:
        notes.append('random weights: stripped ' + ', '.join(stripped))
    torch.manual_seed(seed)
    with DefaultScope.overwrite_default_scope(config_scope(cfg)):
        model = MODELS.build(cfg.model)
    if not hasattr(model, 'parse_losses'):
        raise TypeError(f'{type(model).__name__} is not an mmengine '
                        'BaseModel (no parse_losses)')
    model.init_weights()
    return model


def try_steps(contender: Contender, precisions: Sequence[str],
              device: str) -> None:
    """One training step at every precision (a warm-up that also checks
    that the steps run); a failure is a :class:`BenchmarkError`."""
    losses = []

    def loss_fn() -> Tensor:
        loss = contender.loss()
        losses.append(loss.detach())
        return loss

    for precision in precisions:
        stage = f'run a {precision} training step'
        try:
            timed_step(loss_fn, contender.optim_wrapper, device, precision)
        except Exception as error:
            raise BenchmarkError(contender.config, stage,
                                 _reason(error)) from error
        if not torch.isfinite(losses[-1]):
            raise BenchmarkError(contender.config, stage,
                                 f'the loss is {losses[-1].item()}')


# ------------------------------------------------------------------- FLOPs
def _sdpa_flop_jit(inputs: list, outputs: list) -> int:
    """Multiply-adds of ``scaled_dot_product_attention`` (mmengine has no
    handle for it): Q K^T and the weighted sum of V."""
    query, key, value = (get_shape(v) for v in inputs[:3])
    return math.prod(query[:-1]) * key[-2] * (query[-1] + value[-1])


class _LossForward(nn.Module):
    """The loss of a fixed batch as a function of the inputs alone (what
    mmengine's jit-based FLOP counter needs)."""

    def __init__(self, contender: Contender) -> None:
        super().__init__()
        self.model = contender.model
        self.data_samples = contender.batch['data_samples']

    def forward(self, inputs) -> Tensor:
        losses = self.model(inputs, self.data_samples, mode='loss')
        return self.model.parse_losses(losses)[0]


def count_flops(contender: Contender) -> None:
    """Set the forward FLOPs per image (mmengine's ``FlopAnalyzer``, one
    multiply-add = 1 FLOP, with a handle for scaled-dot-product attention;
    torch's ``FlopCounterMode`` halved to the same convention where
    mmengine fails) and the fwd+bwd FLOPs of the batch (torch)."""
    model = contender.model
    try:
        analyzer = FlopAnalyzer(
            _LossForward(contender), (contender.batch['inputs'], ))
        analyzer.set_op_handle('aten::scaled_dot_product_attention',
                               _sdpa_flop_jit)
        analyzer.unsupported_ops_warnings(False)
        analyzer.uncalled_modules_warnings(False)
        analyzer.tracer_warnings('none')
        flops, contender.flops_by = analyzer.total(), 'mmengine'
    except Exception as error:
        from torch.utils.flop_counter import FlopCounterMode
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            contender.loss()
        flops, contender.flops_by = counter.get_total_flops() / 2, 'torch'
        contender.notes.append('mmengine FLOP analysis failed '
                               f'({_reason(error)}); torch count used')
    contender.fwd_flops = flops / contender.batch_size
    contender.step_flops = step_flops(contender.loss)
    model.zero_grad(set_to_none=True)


# ------------------------------------------------------------- measurement
def measure_interleaved(contenders: Sequence[Contender],
                        precisions: Sequence[str],
                        iters: int,
                        warmup: int,
                        device: str,
                        step: StepFn = timed_step,
                        progress: Optional[Callable[[str],
                                                    None]] = None) -> None:
    """Time ``warmup + iters`` rounds; each round steps every contender once
    at every precision (precision-major, contenders in order). The rounds
    after the warm-up are appended to ``contender.times[precision]``."""
    for it in range(warmup + iters):
        for precision in precisions:
            for c in contenders:
                times = step(c.loss, c.optim_wrapper, device, precision)
                if it >= warmup:
                    c.times.setdefault(precision, []).append(times)
        if progress is not None:
            progress(f'round {it + 1}/{warmup + iters} done')


def measure_memory(contenders: Sequence[Contender], precisions: Sequence[str],
                   device: str) -> bool:
    """Peak memory a training step adds, per contender and precision (run
    after the timings: on CPU it changes glibc's allocation policy). False
    where it cannot be measured (then nothing is set)."""
    if device == 'cpu' and not return_freed_memory():
        return False
    for precision in precisions:
        for c in contenders:
            c.memory[precision] = step_peak_memory(
                lambda: timed_step(c.loss, c.optim_wrapper, device, precision),
                device)
    return True


# --------------------------------------------------------------- reporting
COLUMNS: Tuple[Tuple[str, str], ...] = (
    ('model', 'model'),
    ('precision', 'precision'),
    ('input', 'input'),
    ('params_m', 'params (M)'),
    ('fwd_gflops', 'fwd GFLOPs/img'),
    ('flops_by', 'FLOPs by'),
    ('fwd_bwd_s', 'fwd+bwd (s)'),
    ('optim_s', 'optimizer (s)'),
    ('step_s', 'step (s)'),
    ('images_per_s', 'images/s'),
    ('speed_vs_first', 'speed vs first'),
    ('tflops', 'TFLOP/s'),
    ('state_mib', 'weights+optim (MiB)'),
    ('peak_mib', 'step peak (MiB)'),
)


def result_rows(contenders: Sequence[Contender],
                precisions: Sequence[str]) -> List[dict]:
    """One row per contender and precision (precision-major), keyed by the
    first entries of :data:`COLUMNS` plus ``config``, ``batch`` and
    ``precision``; numbers are rounded for display."""
    rows = []
    for precision in precisions:
        first = None
        for c in contenders:
            runs = c.times[precision]
            step = statistics.median(r['fwd_bwd'] + r['optim'] for r in runs)
            speed = c.batch_size / step
            first = first or speed
            peak = c.memory.get(precision)
            rows.append(
                dict(
                    model=c.name,
                    config=c.config,
                    precision=precision,
                    batch=c.batch_size,
                    input=c.input_desc,
                    params_m=round(count_parameters(c.model) / 1e6, 2),
                    fwd_gflops=_round(c.fwd_flops, 1e9, 2),
                    flops_by=c.flops_by,
                    fwd_bwd_s=round(
                        statistics.median(r['fwd_bwd'] for r in runs), 4),
                    optim_s=round(
                        statistics.median(r['optim'] for r in runs), 4),
                    step_s=round(step, 4),
                    images_per_s=round(speed, 2),
                    speed_vs_first=round(speed / first, 2),
                    tflops=_round(c.step_flops and c.step_flops / step, 1e12,
                                  3),
                    state_mib=round(
                        state_bytes(c.model, c.optim_wrapper.optimizer) /
                        2**20),
                    peak_mib=_round(peak, 2**20, 0)))
    return rows


def _round(value: Optional[float], unit: float, digits: int):
    if value is None:
        return None
    rounded = round(value / unit, digits)
    return int(rounded) if digits == 0 else rounded


def bar_chart(rows: Sequence[dict], path: str, title: str) -> str:
    """Images/s and step peak memory per model, one bar per precision; a
    PNG at ``path``."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(r['model'] for r in rows))
    precisions = list(dict.fromkeys(r['precision'] for r in rows))
    width = 0.8 / len(precisions)
    fig, axes = plt.subplots(
        1, 2, figsize=(6 + 1.6 * len(models), 5), squeeze=False)
    panels = (('images_per_s', 'images/s (higher is better)'),
              ('peak_mib', 'step peak memory, MiB'))
    for ax, (key, label) in zip(axes[0], panels):
        for i, precision in enumerate(precisions):
            values = [
                next((r[key] or 0 for r in rows
                      if r['model'] == m and r['precision'] == precision), 0)
                for m in models
            ]
            xs = [
                j + (i - (len(precisions) - 1) / 2) * width
                for j in range(len(models))
            ]
            ax.bar(xs, values, width, label=precision)
        ax.set_xticks(range(len(models)))
        ax.set_xticklabels(models, rotation=30, ha='right', fontsize=8)
        ax.set_title(label)
        ax.legend()
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    partial = f'{path}.partial'
    fig.savefig(partial, dpi=100, format='png')
    plt.close(fig)
    os.replace(partial, path)
    return path
