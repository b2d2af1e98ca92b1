"""Mixed precision that follows the device, so one config runs anywhere.

The published recipes train in fp16 AMP with a dynamic loss scale, which
mmengine's ``AmpOptimWrapper`` provides only on an accelerator (it asserts
CUDA, NPU, MLU or MUSA). The plugin's pretraining and transfer configs use
:class:`DeviceAmpOptimWrapper` instead: on an accelerator it *is* mmengine's
``AmpOptimWrapper`` (same arguments, same loss scaler, same checkpoint
layout); on a CPU it autocasts to bf16 (or runs fp32) with a pass-through
loss scaler, because fp16 autocast on a CPU is slow and bf16 keeps fp32's
exponent range, so nothing needs scaling. bf16 pays only on CPUs with bf16
instructions (AVX-512 BF16, AMX): on an AVX2-only CPU it is emulated, and a
MixMIM-B step at batch 2 took 110 s against 5 s in fp32 (one thread, the
same run), so by default such a CPU runs fp32. One log line says which mode
runs and why.
"""
import os.path as osp
from contextlib import contextmanager
from typing import Optional, Tuple, Union

import torch
from mmengine.device import (is_cuda_available, is_mlu_available,
                             is_musa_available, is_npu_available)
from mmengine.logging import print_log
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from torch import nn

from mixmim_plugin.registry import OPTIM_WRAPPERS
from .per_param_clip import clip_grad_norm_per_param_, split_clip_grad

CPU_DTYPES = ('auto', 'bfloat16', 'float32')
BF16_CPU_FLAGS = ('avx512_bf16', 'amx_bf16')


def accelerator_available() -> bool:
    """True where mmengine's ``AmpOptimWrapper`` can run."""
    return (is_cuda_available() or is_npu_available() or is_mlu_available()
            or is_musa_available())


def cpu_has_native_bf16() -> bool:
    """True where the CPU has bf16 instructions (``/proc/cpuinfo`` flags;
    elsewhere, torch's AVX-512 / AMX kernel level)."""
    if osp.isfile('/proc/cpuinfo'):
        with open('/proc/cpuinfo') as f:
            flags = next((line for line in f if line.startswith('flags')),
                         '').split()
        return any(flag in flags for flag in BF16_CPU_FLAGS)
    return torch.backends.cpu.get_cpu_capability().startswith(
        ('AVX512', 'AMX'))


def cpu_precision(cpu_dtype: str) -> Tuple[Optional[torch.dtype], str]:
    """The autocast dtype (None: fp32) for ``cpu_dtype`` without an
    accelerator, and the log line's words."""
    why = 'no accelerator; the config asks for AMP'
    if cpu_dtype == 'auto' and not cpu_has_native_bf16():
        return None, ('float32 on the CPU (no accelerator, and this CPU has '
                      'no bf16 instructions: bf16 would be emulated and '
                      "slower; cpu_dtype='bfloat16' forces it)")
    if cpu_dtype == 'float32':
        return None, f'float32 on the CPU ({why})'
    return torch.bfloat16, f'bfloat16 autocast on the CPU ({why})'


@OPTIM_WRAPPERS.register_module()
class DeviceAmpOptimWrapper(AmpOptimWrapper):
    """mmengine's AMP on an accelerator, bf16 or fp32 autocast on a CPU.

    Args:
        loss_scale: ``AmpOptimWrapper``'s (accelerator only).
        dtype: ``AmpOptimWrapper``'s autocast dtype (accelerator only; None
            is fp16).
        cpu_dtype: without an accelerator: ``'auto'`` (default: bf16
            autocast where the CPU has bf16 instructions, about twice as
            fast as fp32 there; fp32 elsewhere), ``'bfloat16'`` or
            ``'float32'`` (no autocast).
        use_fsdp: ``AmpOptimWrapper``'s (accelerator only).
        clip_grad: mmengine's, or ``dict(type='per_param_norm',
            max_norm=...)`` (:mod:`.per_param_clip`).
        **kwargs: :class:`mmengine.optim.OptimWrapper` arguments.
    """

    def __init__(self,
                 loss_scale: Union[str, float, dict] = 'dynamic',
                 dtype: Optional[Union[str, torch.dtype]] = None,
                 cpu_dtype: str = 'auto',
                 use_fsdp: bool = False,
                 clip_grad: Optional[dict] = None,
                 **kwargs) -> None:
        if cpu_dtype not in CPU_DTYPES:
            raise ValueError(f'cpu_dtype must be one of {CPU_DTYPES}, got '
                             f'{cpu_dtype!r}')
        kwargs['clip_grad'], per_param = split_clip_grad(clip_grad)
        self.on_accelerator = accelerator_available()
        if self.on_accelerator:
            super().__init__(
                loss_scale=loss_scale,
                dtype=dtype,
                use_fsdp=use_fsdp,
                **kwargs)
            name = 'float16' if self.cast_dtype is None else str(
                self.cast_dtype).replace('torch.', '')
            self.precision = f'{name} AMP, loss scale {loss_scale}'
        else:
            OptimWrapper.__init__(self, **kwargs)
            self._scale_update_param = None
            # disabled: scale() returns the loss, step() steps the optimizer
            self.loss_scaler = torch.amp.GradScaler('cpu', enabled=False)
            self.cast_dtype, self.precision = cpu_precision(cpu_dtype)
        if per_param:
            self.clip_func = clip_grad_norm_per_param_
        print_log(f'precision: {self.precision}', 'current')

    def load_state_dict(self, state_dict: dict) -> None:
        """Load a checkpoint written on either device: the loss scale of a
        checkpoint without one (a CPU run) starts fresh, and a CPU run
        ignores an accelerator's loss scale."""
        scaler_state = state_dict.get('loss_scaler', None)
        if self.on_accelerator and not scaler_state:
            state_dict.pop('loss_scaler', None)
            print_log(
                'precision: the checkpoint has no loss scale (written '
                'without an accelerator); the loss scaler starts fresh',
                'current')
        elif not self.on_accelerator:
            state_dict.pop('loss_scaler', None)
        super().load_state_dict(state_dict)

    @contextmanager
    def optim_context(self, model: nn.Module):
        if self.on_accelerator:
            with super().optim_context(model):
                yield
            return
        autocast = self.cast_dtype is not None
        with OptimWrapper.optim_context(self, model), torch.autocast(
                'cpu', dtype=torch.bfloat16, enabled=autocast):
            yield
