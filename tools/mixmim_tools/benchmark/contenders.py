"""Configs as benchmark contenders: pretraining, detection and
segmentation configs, the plugin's and the toolboxes' alike.

Each config (a plugin config path or ``<package>::<path>``, e.g.
``mmpretrain::mae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py`` or
``mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py``) becomes a
:class:`Contender`, built in the config's own registry scope: its model
(``Pretrained`` init_cfgs stripped, so random weights, since timing does
not depend on them and checkpoints cannot be downloaded offline), its own
optimizer (GPU-only or autocast optimizer wrappers replaced by a plain
``OptimWrapper``; precision is applied by autocast around the forward) and
one real input batch: synthetic samples of the config's task
(:mod:`~mixmim_tools.benchmark.tasks`: images, and instances or label maps)
run through the config's own train pipeline (so multi-view, mask and
annotation transforms are the config's), collated by the train dataloader's
``collate_fn`` (``pseudo_collate`` where it sets none, as mmengine's
Runner) and passed through the model's ``data_preprocessor``. The step is
``model(inputs, data_samples, mode='loss')``, ``parse_losses``, backward
and the optimizer step; detectors and segmentors also predict
(``mode='predict'`` in eval mode).

The contenders are timed interleaved by
:func:`~mixmim_tools.benchmark.measure.measure_interleaved`. Used by
``tools/analysis_tools/benchmark_models.py``.
"""
import functools
import math
import random
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.analysis import FlopAnalyzer
from mmengine.analysis.jit_handles import get_shape
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.optim import OptimWrapper, build_optim_wrapper
from mmengine.registry import FUNCTIONS
from torch import Tensor, nn

from mixmim_plugin.engine.optimizers.per_param_clip import PER_PARAM
from ..configs import (MMPRETRAIN_SCOPE, build_model, config_label,
                       in_config_scope, load_config, strip_pretrained,
                       train_pipeline)
from .measure import step_flops, timed_inference, timed_step
from .tasks import (PRETRAINING, SAMPLERS, check_input_size, num_classes,
                    set_task_input_size, task_of, without_loading)

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
    task: str = PRETRAINING
    precisions: List[str] = field(default_factory=list)  # those that run
    notes: List[str] = field(default_factory=list)
    times: Dict[str, List[Dict[str, float]]] = field(default_factory=dict)
    infer_times: Dict[str, List[Dict[str,
                                     float]]] = field(default_factory=dict)
    memory: Dict[str, Optional[int]] = field(default_factory=dict)
    fwd_flops: Optional[float] = None  # per image, 1 multiply-add = 1 FLOP
    flops_by: str = 'n/a'
    flops_of: str = 'loss'  # or 'tensor': the network without post-process
    step_flops: Optional[int] = None  # whole batch, fwd + bwd, 2 per MAC

    def loss(self) -> Tensor:
        """The parsed training loss of the batch."""
        losses = self.model(
            self.batch['inputs'], self.batch['data_samples'], mode='loss')
        return self.model.parse_losses(losses)[0]

    @property
    def predicts(self) -> bool:
        """Whether the model is also timed in eval mode (detectors and
        segmentors)."""
        return self.task != PRETRAINING

    def predict(self) -> list:
        """The eval-mode predictions of the batch (post-processing
        included; the caller sets no-grad and precision)."""
        self.model.eval()
        try:
            return self.model(
                self.batch['inputs'],
                self.batch['data_samples'],
                mode='predict')
        finally:
            self.model.train()

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


def form_batch(cfg: Config, pipeline: List[dict], task: str, model: nn.Module,
               batch_size: int, seed: int, source_size: int) -> dict:
    """One training batch: synthetic samples of the task through the train
    ``pipeline`` (its loading transforms skipped), the train dataloader's
    collate function and the model's data preprocessor."""
    with in_config_scope(cfg, MMPRETRAIN_SCOPE):
        transform = Compose(without_loading(pipeline))
        collate = collate_fn(cfg)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    classes = num_classes(cfg.model) or 1
    samples = []
    for i in range(batch_size):
        sample = SAMPLERS[task](rng, i, source_size, classes)
        for step in transform.transforms:
            sample = _apply(step, sample)
        samples.append(sample)
    return model.data_preprocessor(collate(samples), True)


def collate_fn(cfg: Config) -> Callable[[list], dict]:
    """The train dataloader's ``collate_fn`` as mmengine's Runner builds it
    (``pseudo_collate`` where the config sets none)."""
    collate_cfg = dict(
        cfg.train_dataloader.get('collate_fn') or dict(type='pseudo_collate'))
    kind = collate_cfg.pop('type')
    function = FUNCTIONS.get(kind) if isinstance(kind, str) else kind
    if function is None:
        raise KeyError(f'collate_fn {kind!r} is not registered')
    return functools.partial(function, **collate_cfg)


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
        pipeline = train_pipeline(cfg)
        task = task_of(pipeline)
        stage = ('set the input size'
                 if img_size is None else f'set the input size to {img_size}')
        note = set_task_input_size(task, cfg, pipeline, img_size)
        notes = [note] if note else []
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
        batch = form_batch(cfg, pipeline, task, model, batch_size, seed,
                           source)
        if img_size is not None:
            check_input_size(task, batch, img_size)
    except Exception as error:
        raise BenchmarkError(config, stage, _reason(error)) from error
    return Contender(
        name or config_label(config),
        config,
        model,
        optim_wrapper,
        batch,
        task=task,
        notes=notes)


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
    """One training step (and, for detectors and segmentors, one
    prediction) at every precision: a warm-up that also checks that they
    run; a failure is a :class:`BenchmarkError`."""
    losses = []

    def loss_fn() -> Tensor:
        loss = contender.loss()
        losses.append(loss.detach())
        return loss

    def attempt(stage: str, run: Callable[[], object]) -> None:
        try:
            run()
        except Exception as error:
            raise BenchmarkError(contender.config, stage,
                                 _reason(error)) from error

    for precision in precisions:
        stage = f'run a {precision} training step'
        attempt(
            stage, lambda: timed_step(loss_fn, contender.optim_wrapper, device,
                                      precision))
        if not torch.isfinite(losses[-1]):
            raise BenchmarkError(contender.config, stage,
                                 f'the loss is {losses[-1].item()}')
        if contender.predicts:
            attempt(
                f'run a {precision} prediction',
                lambda: timed_inference(contender.predict, device, precision))


@dataclass
class Inference:
    """A contender's prediction as something
    :func:`~mixmim_tools.benchmark.measure.measure_interleaved` steps with
    :func:`inference_step`: its times go to ``contender.infer_times``."""
    contender: Contender
    optim_wrapper: None = None

    def loss(self) -> list:
        return self.contender.predict()

    @property
    def times(self) -> Dict[str, List[Dict[str, float]]]:
        return self.contender.infer_times

    @property
    def precisions(self) -> List[str]:
        return self.contender.precisions


def inference_step(predict_fn: Callable[[], object], optim_wrapper: None,
                   device: str, precision: str) -> Dict[str, float]:
    """The ``step`` of :func:`measure_interleaved` for :class:`Inference`
    runs."""
    return timed_inference(predict_fn, device, precision)


# ------------------------------------------------------------------- FLOPs
def _sdpa_flop_jit(inputs: list, outputs: list) -> int:
    """Multiply-adds of ``scaled_dot_product_attention`` (mmengine has no
    handle for it): Q K^T and the weighted sum of V."""
    query, key, value = (get_shape(v) for v in inputs[:3])
    return math.prod(query[:-1]) * key[-2] * (query[-1] + value[-1])


class _Forward(nn.Module):
    """The model on a fixed batch as a function of the inputs alone (what
    mmengine's jit-based FLOP counter needs): the parsed loss in ``'loss'``
    mode, the network's outputs in ``'tensor'`` mode."""

    def __init__(self, contender: Contender, mode: str) -> None:
        super().__init__()
        self.model = contender.model
        self.data_samples = contender.batch['data_samples']
        self.mode = mode

    def forward(self, inputs):
        out = self.model(inputs, self.data_samples, mode=self.mode)
        return self.model.parse_losses(out)[0] if self.mode == 'loss' else out


def count_flops(contender: Contender) -> None:
    """Set the forward FLOPs per image (mmengine's ``FlopAnalyzer``, one
    multiply-add = 1 FLOP, with a handle for scaled-dot-product attention;
    torch's ``FlopCounterMode`` halved to the same convention where
    mmengine fails) and the fwd+bwd FLOPs of the batch (torch). The forward
    is the training loss's for pretraining, the eval-mode network's
    (``mode='tensor'``) for detectors and segmentors."""
    model = contender.model
    contender.flops_of = 'tensor' if contender.predicts else 'loss'
    forward = _Forward(contender, contender.flops_of)
    model.train(contender.flops_of == 'loss')
    try:
        analyzer = FlopAnalyzer(forward, (contender.batch['inputs'], ))
        analyzer.set_op_handle('aten::scaled_dot_product_attention',
                               _sdpa_flop_jit)
        analyzer.unsupported_ops_warnings(False)
        analyzer.uncalled_modules_warnings(False)
        analyzer.tracer_warnings('none')
        flops, contender.flops_by = analyzer.total(), 'mmengine'
    except Exception as error:
        from torch.utils.flop_counter import FlopCounterMode
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            forward(contender.batch['inputs'])
        flops, contender.flops_by = counter.get_total_flops() / 2, 'torch'
        contender.notes.append('mmengine FLOP analysis failed '
                               f'({_reason(error)}); torch count used')
    finally:
        model.train()
    contender.fwd_flops = flops / contender.batch_size
    contender.step_flops = step_flops(contender.loss)
    model.zero_grad(set_to_none=True)
