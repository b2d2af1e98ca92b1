"""Steps with a non-finite loss or gradient are not applied.

mmengine's models call ``optim_wrapper.update_params(loss)`` right after the
forward pass, with no hook in between, so the check lives in the optimizer
wrapper: :func:`guard` gives a built wrapper :class:`NonFiniteGuard` as its
first base class (same object, same state dict). A non-finite loss skips
backward and step; a non-finite gradient (fp32 / bf16) skips the step; with
fp16 AMP the loss scaler already skips steps whose gradients overflow, and
those skips are counted. :class:`NonFiniteSentinelHook` reads the counts,
logs them and rolls back when steps keep failing.
"""
from functools import lru_cache
from typing import Optional

import torch
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from torch import Tensor


class NonFiniteTrainingError(RuntimeError):
    """Training cannot go on: steps keep producing non-finite values."""


class NonFiniteGuard:
    """Mixin for an mmengine ``OptimWrapper`` (see the module docstring).

    Attributes:
        consecutive: non-finite steps in a row (reset by an applied step).
        skipped: non-finite steps skipped in this run.
        scaler_skips: steps the fp16 loss scaler skipped.
        last_reason: ``'loss'`` or ``'gradient'`` of the last skip.
    """

    consecutive = 0
    skipped = 0
    scaler_skips = 0
    last_reason: Optional[str] = None

    def update_params(self,
                      loss: Tensor,
                      step_kwargs: Optional[dict] = None,
                      zero_kwargs: Optional[dict] = None) -> None:
        if not bool(torch.isfinite(loss.detach()).all()):
            self._inner_count += 1  # what backward() would have counted
            self.zero_grad(**(zero_kwargs or {}))
            self._skip('loss')
            return
        super().update_params(loss, step_kwargs, zero_kwargs)

    def step(self, **kwargs) -> None:
        scale = self._fp16_scale()
        if scale is None and not self._gradients_finite():
            self._skip('gradient')
            return
        super().step(**kwargs)
        if scale is not None and self._fp16_scale() < scale:
            self.scaler_skips += 1
        else:
            self.consecutive = 0

    def _skip(self, reason: str) -> None:
        self.consecutive += 1
        self.skipped += 1
        self.last_reason = reason

    def _fp16_scale(self) -> Optional[float]:
        """The loss scale of an enabled AMP scaler, None without one."""
        if isinstance(self, AmpOptimWrapper) and self.loss_scaler.is_enabled():
            return float(self.loss_scaler.get_scale())
        return None

    def _gradients_finite(self) -> bool:
        grads = [
            p.grad.detach() for group in self.optimizer.param_groups
            for p in group['params'] if p.grad is not None
        ]
        if not grads:
            return True
        norms = torch.stack(
            [torch.linalg.vector_norm(g.float()) for g in grads])
        return bool(torch.isfinite(norms).all())


@lru_cache(maxsize=None)
def _guarded(cls: type) -> type:
    return type(f'NonFiniteGuarded{cls.__name__}', (NonFiniteGuard, cls), {})


def guard(wrapper: OptimWrapper) -> OptimWrapper:
    """Give ``wrapper`` the non-finite check (idempotent)."""
    if not isinstance(wrapper, NonFiniteGuard):
        wrapper.__class__ = _guarded(type(wrapper))
    return wrapper
