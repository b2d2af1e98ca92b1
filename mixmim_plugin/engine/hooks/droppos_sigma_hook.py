"""Linear decay of DropPos's position-smoothing sigma."""
import math
from typing import Optional

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mixmim_plugin.registry import HOOKS

DATA_BATCH = Optional[dict]


@HOOKS.register_module()
class DropPosSigmaHook(Hook):
    """Decay the sigma of the model's ``head`` linearly from ``start`` to
    ``end`` over training, and log it as ``sigma``.

    The authors' rule: at progress ``t`` (finished epochs over
    ``max_epochs`` when ``by_epoch``, else finished iterations over
    ``max_iters``), ``sigma = start + (end - start) * t``; it is set at the
    start of every epoch (or iteration), so the last epoch trains with
    ``start / max_epochs`` (for ``end = 0``), and ``end`` is set when
    training finishes. Resuming recomputes it from the runner's counters.
    ``by_epoch`` needs an epoch-based training loop.

    Args:
        start: sigma at the start of training, >= 0.
        end: sigma at the end of training, >= 0.
        by_epoch: step per epoch (the authors') or per iteration.
    """

    def __init__(self,
                 start: float = 1.,
                 end: float = 0.,
                 by_epoch: bool = True) -> None:
        for name, value in (('start', start), ('end', end)):
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(
                    f'{name} sigma must be finite and >= 0, got {value}')
        self.start = float(start)
        self.end = float(end)
        self.by_epoch = by_epoch

    def sigma_at(self, progress: float) -> float:
        """Sigma after a ``progress`` fraction of training, in [0, 1]."""
        if not 0 <= progress <= 1:
            raise ValueError(f'progress must be in [0, 1], got {progress}')
        return self.start + (self.end - self.start) * progress

    def before_train(self, runner) -> None:
        self._head(runner)  # fail before the first step, not at it

    def before_train_epoch(self, runner) -> None:
        if self.by_epoch:
            self._set(runner, runner.epoch / runner.max_epochs)

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch: DATA_BATCH = None) -> None:
        if not self.by_epoch:
            self._set(runner, runner.iter / runner.max_iters)
        runner.message_hub.update_scalar('train/sigma',
                                         self._head(runner).sigma)

    def after_train(self, runner) -> None:
        self._head(runner).sigma = self.end

    def _set(self, runner, progress: float) -> None:
        self._head(runner).sigma = self.sigma_at(min(progress, 1.))

    @staticmethod
    def _head(runner):
        model = runner.model
        if is_model_wrapper(model):
            model = model.module
        head = getattr(model, 'head', None)
        if head is None or not hasattr(head, 'sigma'):
            raise TypeError(
                f'{type(model).__name__} has no head with a sigma to '
                'schedule; DropPosSigmaHook needs a DropPos model')
        return head
