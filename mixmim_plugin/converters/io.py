"""Reading and writing checkpoint files for the converter tools."""
import os
import os.path as osp
import pickle
from typing import Optional

import torch

from .rules import StateDict


class CheckpointFileError(RuntimeError):
    """A checkpoint file cannot be read (missing, or it needs trust)."""


def load_checkpoint_file(path: str,
                         trust: bool = False,
                         trust_option: Optional[str] = '--trust') -> dict:
    """Read a checkpoint on the CPU.

    Files are read with ``torch.load(weights_only=True)``, with mmengine's
    training checkpoints allow-listed. Checkpoints of other codebases often
    also pickle Python objects (MAE's and DropPos's the argparse
    namespace, MoBY's its yacs config); reading those runs pickle code, so
    it is done only with ``trust=True``.

    Args:
        path: the file.
        trust: allow pickled Python objects.
        trust_option: the calling tool's flag for ``trust``, named in the
            error; None for a tool without one (it reads plugin files).

    Raises:
        CheckpointFileError: no such file; empty, truncated, text or not a
            checkpoint at all; it pickles other objects and ``trust`` is
            False; or a module that such a pickle needs is not installed.
    """
    from mixmim_plugin.engine.checkpoint_files import describe_unreadable
    from mixmim_plugin.utils import allow_mmengine_checkpoints
    if not osp.isfile(path):
        raise CheckpointFileError(f'checkpoint not found: {path}')
    allow_mmengine_checkpoints()
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as err:
        if 'Unsupported global' not in str(err):
            raise CheckpointFileError(
                f'{path}: {describe_unreadable(path, err)}') from None
        if not trust:
            advice = (f'pass {trust_option} if you trust its source'
                      if trust_option else
                      'this tool reads checkpoints the plugin wrote; convert '
                      'it with a tool of tools/model_converters first (they '
                      'take --trust)')
            raise CheckpointFileError(
                f'{path} pickles Python objects besides tensors '
                f'({_unpickler_reason(err)}); reading it runs code from the '
                f'file: {advice}') from None
    except Exception as err:  # EOFError, zip errors, ...: named, no trace
        raise CheckpointFileError(
            f'{path}: {describe_unreadable(path, err)}') from None
    try:
        return torch.load(path, map_location='cpu', weights_only=False)
    except ModuleNotFoundError as err:
        raise CheckpointFileError(
            f'{path} pickles an object of a module that is not installed '
            f'({err.name}); install it to read the checkpoint') from None


def _unpickler_reason(err: Exception) -> str:
    """The line of torch's safe-loading error that names the object."""
    lines = [line.strip() for line in str(err).splitlines()]
    for line in lines:
        if 'Unsupported global:' in line:
            found = line.split('Unsupported global:')[-1]
            return found.split(' was not')[0].strip()
    return lines[0][:200] if lines else type(err).__name__


def save_checkpoint_file(state: StateDict,
                         path: str,
                         meta: Optional[dict] = None) -> str:
    """Write ``{'state_dict': state, 'meta': meta}`` atomically (temporary
    file, fsync, rename), so a failure leaves no half-written checkpoint.
    Returns ``path``."""
    from mixmim_plugin.engine.checkpoint_files import write_atomically
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    checkpoint = {'state_dict': state, 'meta': dict(meta or {})}
    write_atomically(path, lambda tmp: torch.save(checkpoint, tmp))
    return path
