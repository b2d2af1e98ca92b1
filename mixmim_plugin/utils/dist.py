"""Distributed training on machines without GPUs (gloo on the CPU)."""
import os

import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.logging import print_log


def setup_cpu_distributed(cfg: Config) -> bool:
    """Prepare ``cfg`` for a multi-process run when no GPU is present.

    mmengine 0.10.7 always calls ``torch.cuda.set_device`` when it initializes
    a ``pytorch``-launched process group and wraps the model with GPU
    ``device_ids``; both fail on a CPU-only machine. Here the process group is
    initialized with gloo beforehand (mmengine then skips its own
    initialization) and the model wrapper gets ``device_ids=None``.

    Returns True when the config was adapted.
    """
    launcher = cfg.get('launcher', 'none')
    if launcher == 'none' or torch.cuda.is_available():
        return False
    if launcher != 'pytorch':
        raise RuntimeError(
            f'launcher {launcher!r} without a GPU is not supported; on a CPU '
            'machine use tools/dist_train.sh (the pytorch launcher)')
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(
            backend='gloo',
            rank=int(os.environ['RANK']),
            world_size=int(os.environ['WORLD_SIZE']))
    wrapper = dict(
        type='MMDistributedDataParallel',
        device_ids=None,
        broadcast_buffers=False)
    wrapper.update(cfg.get('model_wrapper_cfg') or {})
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg',
                                             {})['backend'] = 'gloo'
    print_log('no GPU: distributed run on the CPU with the gloo backend',
              'current')
    return True
