"""Watches for non-finite training steps and rolls back when they persist.
"""
from typing import Optional

from mmengine.hooks import Hook

from mixmim_plugin.registry import HOOKS
from ..checkpoint_files import (BrokenCheckpointError, checkpoints_in,
                                verify_resumable)
from ..non_finite import NonFiniteGuard, NonFiniteTrainingError


@HOOKS.register_module()
class NonFiniteSentinelHook(Hook):
    """Count the steps the optimizer wrapper skipped for a non-finite loss
    or gradient (:mod:`mixmim_plugin.engine.non_finite`), log them, and after
    ``max_consecutive`` such steps in a row roll the model, optimizer and
    schedulers back to the newest intact checkpoint of the work dir and go
    on (the lr scaled by ``lr_factor``), at most ``max_rollbacks`` times;
    then stop with :class:`NonFiniteTrainingError` naming the iteration.

    The counts are logged as ``nonfinite_steps`` (and ``scaler_skips`` under
    fp16 AMP) from the first one on. Requires
    :class:`~mixmim_plugin.engine.FaultTolerantRunner`, which installs the
    check in the optimizer wrapper and this hook in every run.

    Args:
        max_consecutive: non-finite steps in a row that trigger a rollback.
        max_rollbacks: rollbacks allowed in one run.
        lr_factor: multiplies the learning rates after each rollback.
    """

    priority = 'ABOVE_NORMAL'  # before the checkpoint hook of the same iter

    def __init__(self,
                 max_consecutive: int = 3,
                 max_rollbacks: int = 2,
                 lr_factor: float = 1.0) -> None:
        if max_consecutive < 1 or max_rollbacks < 0 or not 0 < lr_factor <= 1:
            raise ValueError(
                'NonFiniteSentinelHook needs max_consecutive >= 1, '
                f'max_rollbacks >= 0 and 0 < lr_factor <= 1, got '
                f'{max_consecutive}, {max_rollbacks}, {lr_factor}')
        self.max_consecutive = max_consecutive
        self.max_rollbacks = max_rollbacks
        self.lr_factor = lr_factor
        self.rollbacks = 0

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        wrapper = runner.optim_wrapper
        if not isinstance(wrapper, NonFiniteGuard):
            return
        if wrapper.skipped or wrapper.scaler_skips:
            runner.message_hub.update_scalar('train/nonfinite_steps',
                                             wrapper.skipped)
        if wrapper.scaler_skips:
            runner.message_hub.update_scalar('train/scaler_skips',
                                             wrapper.scaler_skips)
        if wrapper.consecutive == 0:
            return
        iteration = runner.iter + 1
        runner.logger.warning(
            f'non-finite {wrapper.last_reason} at iteration {iteration}: '
            f'step not applied ({wrapper.consecutive} in a row, '
            f'{wrapper.skipped} in this run)')
        if wrapper.consecutive >= self.max_consecutive:
            self._roll_back(runner, wrapper, iteration)

    def _roll_back(self, runner, wrapper: NonFiniteGuard,
                   iteration: int) -> None:
        what = (f'iteration {iteration}: {wrapper.consecutive} non-finite '
                f'steps in a row ({wrapper.last_reason})')
        if self.rollbacks >= self.max_rollbacks:
            raise NonFiniteTrainingError(
                f'{what} after {self.rollbacks} rollbacks: training stops. '
                'Lower the learning rate, check the data, or raise '
                'fault_tolerance.max_rollbacks')
        path = self._newest_intact(runner)
        if path is None:
            raise NonFiniteTrainingError(
                f'{what}, and {runner.work_dir} holds no intact checkpoint '
                'to roll back to: training stops')
        runner.roll_back(path)
        if self.lr_factor != 1.0:
            for group in wrapper.optimizer.param_groups:
                group['lr'] *= self.lr_factor
        self.rollbacks += 1
        wrapper.consecutive = 0
        runner.logger.warning(
            f'{what}: rolled back model, optimizer and schedulers to {path} '
            f'(rollback {self.rollbacks} of at most {self.max_rollbacks}' +
            (f', lr x {self.lr_factor}' if self.lr_factor != 1.0 else '') +
            ')')

    @staticmethod
    def _newest_intact(runner) -> Optional[str]:
        for path in checkpoints_in(runner.work_dir):
            try:
                verify_resumable(path)
            except BrokenCheckpointError as error:
                runner.logger.warning(f'rollback: skipping {error}')
                continue
            return path
        return None
