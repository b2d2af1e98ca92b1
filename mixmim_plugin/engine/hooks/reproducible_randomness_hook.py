"""Re-seeds the global generators before every training iteration."""
from mmengine.hooks import Hook

from mixmim_plugin.registry import HOOKS
from ..randomness import derived_seed, seed_everything


@HOOKS.register_module()
class ReproducibleRandomnessHook(Hook):
    """Seed Python's, NumPy's and torch's generators from (the run's seed,
    iteration) before each training iteration, so what a step draws does
    not depend on what ran before it (validation, dataloader start-up, a
    resume); see :mod:`mixmim_plugin.engine.randomness`. Added by
    :class:`~mixmim_plugin.engine.FaultTolerantRunner` when
    ``fault_tolerance.reproducible`` is True (the default)."""

    priority = 'VERY_HIGH'

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch=None) -> None:
        seed_everything(derived_seed(runner.seed, runner.iter))
