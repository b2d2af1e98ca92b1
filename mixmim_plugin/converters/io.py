"""Reading and writing checkpoint files for the converter tools."""
import os
import os.path as osp
import pickle
from typing import Optional

import torch

from .rules import StateDict


class CheckpointFileError(RuntimeError):
    """A checkpoint file cannot be read (missing, or it needs trust)."""


def load_checkpoint_file(path: str, trust: bool = False) -> dict:
    """Read a checkpoint on the CPU.

    Files are read with ``torch.load(weights_only=True)``, with mmengine's
    training checkpoints allow-listed. Checkpoints of other codebases often
    also pickle Python objects (MAE's and DropPos's the argparse
    namespace, MoBY's its yacs config); reading those runs pickle code, so
    it is done only with ``trust=True``.

    Raises:
        CheckpointFileError: no such file, or it pickles other objects and
            ``trust`` is False (the message says so), or a module that such
            a pickle needs is not installed.
    """
    from mixmim_plugin.utils import allow_mmengine_checkpoints
    if not osp.isfile(path):
        raise CheckpointFileError(f'checkpoint not found: {path}')
    allow_mmengine_checkpoints()
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as err:
        if not trust:
            reason = str(err).strip().splitlines()[-1][:300]
            raise CheckpointFileError(
                f'{path} pickles Python objects besides tensors ({reason}); '
                'reading it runs code from the file: pass --trust if you '
                'trust its source') from None
    try:
        return torch.load(path, map_location='cpu', weights_only=False)
    except ModuleNotFoundError as err:
        raise CheckpointFileError(
            f'{path} pickles an object of a module that is not installed '
            f'({err.name}); install it to read the checkpoint') from None


def save_checkpoint_file(state: StateDict,
                         path: str,
                         meta: Optional[dict] = None) -> str:
    """Write ``{'state_dict': state, 'meta': meta}`` to a temporary file and
    rename it to ``path``, so a failure leaves no half-written checkpoint.
    Returns ``path``."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = f'{path}.tmp'
    try:
        torch.save({'state_dict': state, 'meta': dict(meta or {})}, tmp)
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
    return path
