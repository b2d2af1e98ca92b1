"""Pretraining configs as benchmark contenders.

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

The contenders are timed interleaved by
:func:`~mixmim_tools.benchmark.measure.measure_interleaved`. Used by
``tools/analysis_tools/benchmark_models.py``.
"""
import math
import random
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.analysis import FlopAnalyzer
from mmengine.analysis.jit_handles import get_shape
from mmengine.config import Config
from mmengine.dataset import Compose, default_collate
from mmengine.optim import OptimWrapper, build_optim_wrapper
from torch import Tensor, nn

from mixmim_plugin.engine.optimizers.per_param_clip import PER_PARAM
from ..configs import (MMPRETRAIN_SCOPE, build_model, config_label,
                       in_config_scope, load_config, strip_pretrained,
                       train_pipeline)
from .input_size import set_input_size
from .measure import step_flops, timed_step

# optimizer wrappers whose only job is mixed precision: replaced by
# OptimWrapper (AmpOptimWrapper needs CUDA); these keys belong to them only
PRECISION_WRAPPERS = ('AmpOptimWrapper', 'AutocastOptimWrapper',
                      'DeviceAmpOptimWrapper')
PRECISION_WRAPPER_KEYS = ('loss_scale', 'dtype', 'device_type', 'cpu_dtype',
                          'use_fsdp')


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
    with in_config_scope(cfg, MMPRETRAIN_SCOPE):
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
        model = random_model(cfg, seed, notes)
        model.to(device).train()
        stage = 'build the optimizer'
        optim_cfg, note = plain_optim_wrapper(cfg.optim_wrapper)
        notes += [note] if note else []
        with in_config_scope(cfg, MMPRETRAIN_SCOPE):
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


def random_model(cfg: Config, seed: int, notes: List[str]) -> nn.Module:
    """The config's model with random weights (``init_weights`` applied,
    ``Pretrained`` init_cfgs stripped and listed in ``notes``)."""
    stripped = strip_pretrained(cfg.model)
    if stripped:
        notes.append('random weights: stripped ' + ', '.join(stripped))
    torch.manual_seed(seed)
    model = build_model(cfg, MMPRETRAIN_SCOPE)
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
