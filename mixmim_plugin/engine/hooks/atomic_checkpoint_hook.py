"""mmengine's CheckpointHook, in the order that survives a kill."""
import os
import os.path as osp
from collections import deque
from typing import List

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook

from mixmim_plugin.registry import HOOKS
from ..checkpoint_files import write_text_atomically


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` that deletes an old checkpoint only after the new
    one is complete and rewrites ``last_checkpoint`` atomically, and only
    then.

    mmengine's removes the oldest checkpoint first and writes in place, so
    with ``max_keep_ckpts=1`` a kill during the save loses every checkpoint.
    The file itself is written atomically by
    :class:`~mixmim_plugin.engine.FaultTolerantRunner` (temporary file,
    fsync, rename). Same arguments as ``CheckpointHook``;
    ``FaultTolerantRunner`` puts this hook in place of a configured
    ``CheckpointHook``.
    """

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        expired = self._keep(runner, step)
        name = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, name)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            name,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if not is_main_process():
            return
        fsync = getattr(runner, 'fault_tolerance', {}).get('fsync', True)
        write_text_atomically(
            osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt,
            fsync)
        for old in expired:
            path = osp.join(self.out_dir, self.filename_tmpl.format(old))
            if osp.isfile(path):
                os.remove(path)

    def _keep(self, runner, step: int) -> List[int]:
        """Add ``step`` to the kept checkpoints (recorded in the message
        hub before the save, so the checkpoint knows itself kept); return
        the steps that fall out, to delete once the new file is complete.
        """
        if self.max_keep_ckpts <= 0 or (self.keep_ckpt_ids
                                        and self.keep_ckpt_ids[-1] == step):
            return []
        steps = [*self.keep_ckpt_ids, step]
        expired = steps[:-self.max_keep_ckpts]
        self.keep_ckpt_ids = deque(steps[-self.max_keep_ckpts:],
                                   self.max_keep_ckpts)
        runner.message_hub.update_info('keep_ckpt_ids',
                                       list(self.keep_ckpt_ids))
        return expired
