"""A Runner for runs that last days: kills, broken files and NaN steps leave
the work intact and say what happened.

:class:`FaultTolerantRunner` is mmengine's ``Runner`` plus

* atomic checkpoints (:mod:`.checkpoint_files`; the ``CheckpointHook``
  becomes :class:`AtomicCheckpointHook`, which deletes old checkpoints only
  after the new one is complete), and no checkpoint with a non-finite
  tensor: the save refuses and names the tensors;
* verified auto-resume: the checkpoint ``last_checkpoint`` names (re-rooted
  into a moved work dir) is checked before use; if it is missing or
  broken, the newest intact checkpoint of the work dir is used, and the log
  says which and why; with nothing to resume from, one line says so;
* shape-checked resume: model and optimizer tensors are compared with the
  checkpoint's before anything is loaded; a mismatch is a
  :class:`ResumeMismatchError` naming the first tensors and both shapes;
* reproducible randomness (:mod:`.randomness`): a run killed at any point
  and resumed repeats the uninterrupted run's losses exactly (CPU, or
  ``randomness.deterministic=True`` on a GPU);
* the non-finite guard in the optimizer wrapper and
  :class:`NonFiniteSentinelHook` (:mod:`.non_finite`);
* a narrower ``compile``: mmengine compiles the whole ``train_step`` (data
  handling, loss parsing, backward, optimizer), which breaks into many
  graphs; a model that names ``compile_targets`` (MixMIM:
  ``forward_train``) gets just those methods compiled, with
  ``fullgraph=True`` (a graph break is an error, not a silent slowdown)
  unless the config's ``compile`` dict says otherwise.

Configs switch it on with ``runner_type`` (``configs/_base_/
fault_tolerance.py``, part of every plugin config's runtime); its settings
are the top-level ``fault_tolerance`` dict.
"""
import os.path as osp
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.dist import is_main_process
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapper
from mmengine.runner import Runner
from torch import Tensor
from torch.utils.data import BatchSampler

from mixmim_plugin.registry import RUNNERS
from .checkpoint_files import (BrokenCheckpointError, checkpoints_in,
                               read_checkpoint, recorded_checkpoint,
                               remove_stale_temporaries, verify_resumable,
                               write_atomically)
from .hooks.atomic_checkpoint_hook import AtomicCheckpointHook
from .non_finite import guard
from .randomness import SeededSampler, seeded_dataloader_cfg

# the ``fault_tolerance`` options of a config, and their defaults
DEFAULTS = dict(
    # non-finite steps in a row before rolling back to the last checkpoint
    max_consecutive_nonfinite=3,
    # rollbacks before the run stops with an error naming the iteration
    max_rollbacks=2,
    # lr multiplier after each rollback (1.0: unchanged)
    rollback_lr_factor=1.0,
    # re-seed per iteration and per sample, so a resume repeats the run
    reproducible=True,
    # flush checkpoints to the disk before renaming them into place (a
    # power loss cannot leave a broken one; costs the disk's write time)
    fsync=True)
CHECKPOINT_HOOKS = ('CheckpointHook', 'mmengine.CheckpointHook')


class ResumeMismatchError(RuntimeError):
    """The checkpoint's tensors do not fit the model or optimizer."""


class NonFiniteCheckpointError(RuntimeError):
    """Refused to write a checkpoint holding non-finite values."""


@RUNNERS.register_module()
class FaultTolerantRunner(Runner):
    """mmengine's Runner that survives faults (see the module docstring)."""

    # ------------------------------------------------------------- set-up
    @property
    def fault_tolerance(self) -> dict:
        options = dict(DEFAULTS, **self.cfg.get('fault_tolerance', {}))
        unknown = set(options) - set(DEFAULTS)
        if unknown:
            raise ValueError(f'fault_tolerance has no option(s) '
                             f'{sorted(unknown)}; known: {sorted(DEFAULTS)}')
        return options

    def register_hooks(self,
                       default_hooks: Optional[dict] = None,
                       custom_hooks: Optional[List] = None) -> None:
        default_hooks = dict(default_hooks or {})
        checkpoint = default_hooks.get('checkpoint',
                                       dict(type='CheckpointHook'))
        if isinstance(checkpoint, dict) and checkpoint.get(
                'type', 'CheckpointHook') in CHECKPOINT_HOOKS:
            default_hooks['checkpoint'] = dict(
                checkpoint, type=AtomicCheckpointHook)
        options = self.fault_tolerance
        custom_hooks = list(custom_hooks or [])
        if not any(
                isinstance(h, dict)
                and str(h.get('type', '')).endswith('NonFiniteSentinelHook')
                for h in custom_hooks):
            custom_hooks.append(
                dict(
                    type='mixmim_plugin.NonFiniteSentinelHook',
                    max_consecutive=options['max_consecutive_nonfinite'],
                    max_rollbacks=options['max_rollbacks'],
                    lr_factor=options['rollback_lr_factor']))
        if options['reproducible']:
            custom_hooks.append(
                dict(type='mixmim_plugin.ReproducibleRandomnessHook'))
        super().register_hooks(default_hooks, custom_hooks)

    def build_train_loop(self, loop):
        loader = self._train_dataloader
        if (self.fault_tolerance['reproducible'] and isinstance(loader, dict)
                and loader.get('batch_sampler') is None):
            self._train_dataloader = seeded_dataloader_cfg(loader, self.seed)
        loop = super().build_train_loop(loop)
        self._drop_single_last_batch(loop)
        return loop

    def _drop_single_last_batch(self, loop) -> None:
        """A last batch of one image fails MixMIM's pairing and BatchNorm
        (MoBY's projector) at the end of every epoch, before its checkpoint:
        drop it, and say so."""
        batches = getattr(loop.dataloader, 'batch_sampler', None)
        if (not isinstance(batches, BatchSampler) or batches.drop_last
                or not hasattr(loop, 'max_epochs')):
            return
        samples, size = len(batches.sampler), batches.batch_size
        if samples % size != 1 or samples == 1:
            return
        batches.drop_last = True
        loop._max_iters = loop.max_epochs * len(loop.dataloader)
        self.logger.warning(
            f'train_dataloader: {samples} samples per process in batches of '
            f'{size} leave a last batch of 1, which pairing and BatchNorm '
            'cannot train on: it is dropped every epoch (choose with '
            'train_dataloader.drop_last or another batch size)')

    def _maybe_compile(self, target: str) -> None:
        """Compile the model's ``compile_targets`` (``fullgraph=True``
        unless the config's ``compile`` dict sets it) instead of mmengine's
        whole ``train_step``; models without targets get mmengine's."""
        model = self._bare_model()
        names = getattr(model, 'compile_targets', ())
        options = self.cfg.get('compile', False)
        if not options or not names or target != 'train_step':
            return super()._maybe_compile(target)
        options = {'fullgraph': True, **({} if options is True else options)}
        for name in names:
            setattr(model, name,
                    torch.compile(getattr(model, name), **options))
        self.logger.info(f'compile: {", ".join(names)} of '
                         f'{type(model).__name__} with torch.compile'
                         f'({options}); the first iterations compile')

    def build_optim_wrapper(self, optim_wrapper):
        built = super().build_optim_wrapper(optim_wrapper)
        return guard(built) if isinstance(built, OptimWrapper) else built

    # -------------------------------------------------------------- saving
    def save_checkpoint(self, out_dir: str, filename: str, *args,
                        **kwargs) -> None:
        """mmengine's save, through a temporary file renamed into place;
        refuses a model with non-finite tensors."""
        bad = non_finite_tensors(self._bare_model().state_dict())
        if bad:
            raise NonFiniteCheckpointError(
                f'not saving {filename}: {len(bad)} model tensors hold NaN '
                f'or inf, e.g. {bad[:5]}; the checkpoints on disk are kept')
        if not is_main_process():
            return
        if not osp.isdir(out_dir):  # a remote backend: mmengine's write
            super().save_checkpoint(out_dir, filename, *args, **kwargs)
            return
        path = osp.join(out_dir, filename)
        write_atomically(
            path,
            lambda tmp: super(FaultTolerantRunner, self).save_checkpoint(
                out_dir, osp.basename(tmp), *args, **kwargs),
            fsync=self.fault_tolerance['fsync'])

    # ------------------------------------------------------------ resuming
    def load_or_resume(self) -> None:
        if self._has_loaded or not self._resume:
            return super().load_or_resume()
        if self._load_from is not None:  # resume from a named checkpoint
            verify_resumable(self._load_from)
            self.resume(self._load_from)
            return
        path = self.find_resumable()
        if path is None:
            self._has_loaded = True
            return
        self.resume(path)
        self._has_loaded = True

    def find_resumable(self) -> Optional[str]:
        """The checkpoint auto-resume uses (see the module docstring)."""
        stale = remove_stale_temporaries(self.work_dir)
        if stale:
            self.logger.info(f'resume: removed {len(stale)} unfinished '
                             f'temporary file(s) of a killed save: {stale}')
        recorded = recorded_checkpoint(self.work_dir)
        problems = []
        if recorded is None:
            problems.append('no usable last_checkpoint file')
        candidates = [recorded] if recorded else []
        candidates += [
            p for p in checkpoints_in(self.work_dir)
            if not (recorded and osp.abspath(p) == osp.abspath(recorded))
        ]
        for path in candidates:
            try:
                verify_resumable(path)
            except BrokenCheckpointError as error:
                problems.append(str(error))
                continue
            if problems:
                self.logger.warning(f'resume: using {path} because ' +
                                    '; '.join(problems))
            return path
        self.logger.info(
            f'resume: nothing to resume from in {self.work_dir} (' +
            ('; '.join(problems) if problems else 'no checkpoint') +
            '): training starts from the beginning')
        return None

    def resume(self, filename: str, *args, **kwargs) -> None:
        """Check shapes first, then mmengine's resume, then the sampler
        position of a checkpoint saved in the middle of an epoch."""
        checkpoint = read_checkpoint(filename)
        self.optim_wrapper = self.build_optim_wrapper(self.optim_wrapper)
        check_resume_shapes(self._bare_model(), self.optim_wrapper, checkpoint,
                            filename)
        del checkpoint
        super().resume(filename, *args, **kwargs)
        self._skip_consumed_samples()

    def roll_back(self, filename: str) -> None:
        """Load model, optimizer and schedulers from ``filename``; the
        loop's counters stay where they are."""
        checkpoint = read_checkpoint(filename, mmap=False)
        check_resume_shapes(self._bare_model(), self.optim_wrapper, checkpoint,
                            filename)
        self._bare_model().load_state_dict(checkpoint['state_dict'])
        self.optim_wrapper.load_state_dict(checkpoint['optimizer'])
        schedulers = self.param_schedulers or []
        if isinstance(schedulers, dict):
            schedulers = [s for group in schedulers.values() for s in group]
            saved = [
                s for group in checkpoint.get('param_schedulers', {}).values()
                for s in group
            ]
        else:
            saved = checkpoint.get('param_schedulers', [])
        for scheduler, state in zip(schedulers, saved):
            scheduler.load_state_dict(state)

    def _skip_consumed_samples(self) -> None:
        loader = self.train_loop.dataloader
        sampler = getattr(loader, 'sampler', None)
        if not (isinstance(sampler, SeededSampler)
                and hasattr(self.train_loop, 'max_epochs')):
            return
        done = self.train_loop.iter - self.train_loop.epoch * len(loader)
        if done > 0:
            sampler.skip(done * loader.batch_size)
            self.logger.info(f'resume: the checkpoint is {done} iterations '
                             f'into epoch {self.train_loop.epoch + 1}; its '
                             'samples are skipped')

    def _bare_model(self) -> torch.nn.Module:
        return self.model.module if is_model_wrapper(
            self.model) else self.model


# ------------------------------------------------------------------ checks
def non_finite_tensors(state: Dict[str, Tensor]) -> List[str]:
    """Names of the floating-point tensors of ``state`` with NaN or inf."""
    return [
        name for name, value in state.items()
        if isinstance(value, Tensor) and value.is_floating_point()
        and not bool(torch.isfinite(value).all())
    ]


def _shape_mismatches(model: torch.nn.Module, optim_wrapper: OptimWrapper,
                      checkpoint: dict) -> List[Tuple[str, tuple, tuple]]:
    """(name, current shape, checkpoint shape) for every tensor that
    differs, model first."""
    found = []
    current = model.state_dict()
    for name, value in checkpoint.get('state_dict', {}).items():
        if name in current and isinstance(value, Tensor) and tuple(
                value.shape) != tuple(current[name].shape):
            found.append((f'model {name}', tuple(current[name].shape),
                          tuple(value.shape)))
    saved = checkpoint.get('optimizer')
    if not isinstance(optim_wrapper, OptimWrapper) or not saved:
        return found
    groups = optim_wrapper.optimizer.param_groups
    saved_groups = saved.get('param_groups', [])
    if len(groups) != len(saved_groups):
        found.append(
            ('optimizer param_groups', (len(groups), ), (len(saved_groups), )))
        return found
    names = {id(p): n for n, p in model.named_parameters()}
    for group, saved_group in zip(groups, saved_groups):
        if len(group['params']) != len(saved_group['params']):
            found.append(
                ('optimizer param group size', (len(group['params']), ),
                 (len(saved_group['params']), )))
            continue
        for param, key in zip(group['params'], saved_group['params']):
            for slot, value in saved.get('state', {}).get(key, {}).items():
                if (isinstance(value, Tensor) and value.dim() > 0
                        and value.shape != param.shape):
                    found.append(
                        (f'optimizer {slot} of {names.get(id(param), key)}',
                         tuple(param.shape), tuple(value.shape)))
    return found


def check_resume_shapes(model: torch.nn.Module, optim_wrapper,
                        checkpoint: dict, filename: str) -> None:
    """Raise :class:`ResumeMismatchError` if any model or optimizer tensor
    of ``checkpoint`` has another shape than the current one."""
    found = _shape_mismatches(model, optim_wrapper, checkpoint)
    if found:
        shown = '; '.join(f'{name}: this run {mine}, checkpoint {theirs}'
                          for name, mine, theirs in found[:3])
        raise ResumeMismatchError(
            f'cannot resume from {filename}: {len(found)} tensors have other '
            f'shapes than this config builds ({shown}). It was written by '
            'another config (or other overrides); resume with the same '
            'config, or start from it with load_from (weights only)')


__all__ = [
    'FaultTolerantRunner', 'NonFiniteCheckpointError', 'ResumeMismatchError',
    'check_resume_shapes', 'non_finite_tensors'
]
