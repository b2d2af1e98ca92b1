"""Checkpoint files that survive a kill, and the checks that find a usable
one.

mmengine writes a checkpoint in place and, with ``max_keep_ckpts``, deletes
the oldest one before writing the new one: a kill during the save leaves a
truncated file and, with ``max_keep_ckpts=1``, nothing else. Here every file
a later run reads is written to a temporary name in the same folder,
flushed, fsynced and renamed over its final name (a rename within one
filesystem is atomic), so a reader sees the old file or the complete new
one, never half of one. The fsync (on by default, ``fault_tolerance.fsync``)
makes that hold across a power loss too; a killed process needs only the
rename.
"""
import glob
import os
import os.path as osp
import re
import zipfile
from typing import Callable, List, Optional, Sequence

import torch

TMP_MARK = '.tmp-'
# what mmengine's CheckpointHook names its files
CHECKPOINT_NAME = re.compile(r'^(epoch|iter)_(\d+)\.pth$')
RESUME_KEYS = ('meta', 'state_dict', 'optimizer')


class BrokenCheckpointError(RuntimeError):
    """A checkpoint file that cannot be used: names the file and why."""

    def __init__(self, path: str, why: str) -> None:
        self.path = path
        self.why = why
        super().__init__(f'{path}: {why}')


def temporary_path(path: str) -> str:
    """A name beside ``path`` for writing it (ignored by every scan)."""
    folder, name = osp.split(path)
    return osp.join(folder, f'.{name}{TMP_MARK}{os.getpid()}')


def commit(tmp: str, path: str, fsync: bool = True) -> None:
    """Rename ``tmp`` over ``path``; with ``fsync``, first flush it to the
    disk and afterwards the folder entry (survives a power loss or an OS
    crash; a killed process needs only the rename)."""
    if fsync:
        with open(tmp, 'rb+') as f:
            os.fsync(f.fileno())
    os.replace(tmp, path)
    if fsync:
        folder = os.open(osp.dirname(osp.abspath(path)), os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def write_atomically(path: str,
                     write: Callable[[str], None],
                     fsync: bool = True) -> None:
    """``write(tmp)`` then :func:`commit`; on any error the temporary file
    is removed and ``path`` is untouched."""
    tmp = temporary_path(path)
    try:
        write(tmp)
        commit(tmp, path, fsync)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def write_text_atomically(path: str, text: str, fsync: bool = True) -> None:

    def write(tmp: str) -> None:
        with open(tmp, 'w') as f:
            f.write(text)

    write_atomically(path, write, fsync)


def remove_stale_temporaries(folder: str) -> List[str]:
    """Delete what killed writers left in ``folder``; returns the names."""
    stale = glob.glob(osp.join(folder, f'.*{TMP_MARK}*'))
    for path in stale:
        os.remove(path)
    return [osp.basename(p) for p in stale]


# ------------------------------------------------------------------ checks
def describe_unreadable(path: str, error: Exception) -> str:
    """Why ``torch.load`` failed on ``path``, in words."""
    with open(path, 'rb') as f:
        head = f.read(64)
    if not head:
        why = 'the file is empty (0 bytes): a save that was interrupted?'
    elif zipfile.is_zipfile(path) or head.startswith(b'PK'):
        why = (f'the file is truncated or corrupt ({osp.getsize(path)} '
               f'bytes; {type(error).__name__}: {str(error)[:120]})')
    elif all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        why = (f'the file is text, not a PyTorch checkpoint (it starts '
               f'with {head[:32].decode()!r})')
    else:
        why = ('the file is not a PyTorch checkpoint (neither the zip '
               'format torch.save writes nor a pickle)')
    return why


def read_checkpoint(path: str, mmap: bool = True) -> dict:
    """Load a checkpoint on the CPU under safe loading (mmengine's training
    checkpoints are allow-listed, see :mod:`mixmim_plugin.utils.safe_load`).

    With ``mmap`` the tensors are not read into memory, so checking a large
    checkpoint costs little.

    Raises:
        BrokenCheckpointError: missing, empty, truncated, text, not a
            checkpoint, or it pickles objects other than mmengine's.
    """
    if not osp.isfile(path):
        raise BrokenCheckpointError(path, 'no such file')
    try:
        checkpoint = torch.load(
            path, map_location='cpu', weights_only=True, mmap=mmap)
    except Exception as error:  # noqa: BLE001 - each kind is described
        if 'weights_only' in str(error) or 'Unsupported global' in str(error):
            raise BrokenCheckpointError(
                path, 'it pickles Python objects besides tensors; the '
                'plugin does not resume from files it did not write') from None
        raise BrokenCheckpointError(path, describe_unreadable(path,
                                                              error)) from None
    if not isinstance(checkpoint, dict):
        raise BrokenCheckpointError(
            path, f'it holds a {type(checkpoint).__name__}, not a checkpoint '
            'dict')
    return checkpoint


def verify_resumable(path: str, keys: Sequence[str] = RESUME_KEYS) -> dict:
    """The checkpoint at ``path`` if it loads and holds ``keys``."""
    checkpoint = read_checkpoint(path)
    missing = [k for k in keys if k not in checkpoint]
    if missing:
        raise BrokenCheckpointError(
            path, f'it holds no {missing} (has {sorted(checkpoint)}): not a '
            'training checkpoint')
    return checkpoint


def checkpoints_in(folder: str) -> List[str]:
    """The mmengine checkpoints in ``folder``, newest step first."""
    found = []
    for path in glob.glob(osp.join(folder, '*.pth')):
        match = CHECKPOINT_NAME.match(osp.basename(path))
        if match:
            found.append((int(match.group(2)), osp.getmtime(path), path))
    return [path for _, _, path in sorted(found, reverse=True)]


def recorded_checkpoint(work_dir: str) -> Optional[str]:
    """What ``work_dir/last_checkpoint`` names, re-rooted into ``work_dir``
    when the work dir was moved; None when it is missing or empty."""
    record = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(record):
        return None
    with open(record) as f:
        path = f.read().strip()
    if not path:
        return None
    if not osp.isfile(path):
        moved = osp.join(work_dir, osp.basename(path))
        if osp.isfile(moved):
            return moved
    return path
