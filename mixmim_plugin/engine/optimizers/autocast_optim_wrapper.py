"""Mixed precision by ``torch.autocast`` on any device."""
from contextlib import contextmanager
from typing import Optional

import torch
from mmengine.optim import OptimWrapper
from torch import nn

from mixmim_plugin.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(OptimWrapper):
    """Run the forward pass under ``torch.autocast`` without loss scaling.

    mmengine's ``AmpOptimWrapper`` asserts a GPU; this wrapper also covers
    CPU training, where bf16 autocast is the useful mode (bf16 keeps fp32's
    exponent range, so no loss scaling is needed).

    Args:
        dtype: ``'bfloat16'`` (default) or ``'float16'``.
        device_type: autocast device; the model's device when None.
        **kwargs: :class:`mmengine.optim.OptimWrapper` arguments.
    """

    def __init__(self,
                 dtype: str = 'bfloat16',
                 device_type: Optional[str] = None,
                 **kwargs) -> None:
        if dtype not in ('bfloat16', 'float16'):
            raise ValueError(
                f"dtype must be 'bfloat16' or 'float16', got {dtype!r}")
        super().__init__(**kwargs)
        self.cast_dtype = getattr(torch, dtype)
        self.device_type = device_type

    @contextmanager
    def optim_context(self, model: nn.Module):
        device = self.device_type or next(model.parameters()).device.type
        with super().optim_context(model), torch.autocast(
                device_type=device, dtype=self.cast_dtype):
            yield
