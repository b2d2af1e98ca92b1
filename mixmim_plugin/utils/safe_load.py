"""Resuming mmengine checkpoints under torch's safe loading.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True`` and mmengine
0.10.7 does not pass ``weights_only``, so loading a checkpoint that mmengine's
``CheckpointHook`` wrote (to resume) fails: besides tensors it pickles the
message hub's ``HistoryBuffer`` objects, numpy arrays and scalars, and the
buffers' statistics methods, which pickle (protocol 2) writes as
``getattr(HistoryBuffer, 'min')``.

The fix keeps safe loading on for every file and allow-lists exactly those
objects:

* ``HistoryBuffer`` and numpy's array, scalar and dtype reconstruction
  (data only);
* instead of ``builtins.getattr`` itself -- which would let any checkpoint
  walk attributes of allow-listed objects -- a stand-in registered under that
  name that only returns ``HistoryBuffer``'s registered statistics methods and
  raises ``UnpicklingError`` for anything else.

Pretrained weights from elsewhere therefore still load with
``weights_only=True``; a file that pickles anything else is still refused.
"""
import pickle
from typing import Callable

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct, scalar
except ImportError:  # numpy 1.x
    from numpy.core.multiarray import _reconstruct, scalar

# HistoryBuffer adds these to its statistics in __init__; others are added by
# HistoryBuffer.register_statistics.
BUILTIN_STATISTICS = ('min', 'max', 'current', 'mean')


def history_buffer_getattr(obj: object, name: str) -> Callable:
    """``getattr`` restricted to ``HistoryBuffer``'s statistics methods, as
    mmengine checkpoints pickle them; anything else is refused."""
    allowed = set(BUILTIN_STATISTICS) | set(HistoryBuffer._statistics_methods)
    if obj is HistoryBuffer and name in allowed:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'refusing getattr({obj!r}, {name!r}) while loading a checkpoint: '
        'only HistoryBuffer statistics methods are allowed')


def _numpy_dtype_classes() -> list:
    """numpy 2's concrete dtype classes (``numpy.dtypes.Float64DType``...),
    whose state is set when a pickled dtype is rebuilt."""
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is None:  # numpy 1.x pickles dtypes as numpy.dtype only
        return []
    return [
        getattr(dtypes, name) for name in dir(dtypes)
        if name.endswith('DType') and isinstance(getattr(dtypes, name), type)
    ]


MMENGINE_CHECKPOINT_GLOBALS = [
    HistoryBuffer,
    np.ndarray,
    np.dtype,
    _reconstruct,
    scalar,
    *_numpy_dtype_classes(),
    (history_buffer_getattr, 'builtins.getattr'),
]


def allow_mmengine_checkpoints() -> None:
    """Allow-list what mmengine training checkpoints hold beyond tensors for
    ``torch.load(weights_only=True)``. Idempotent."""
    torch.serialization.add_safe_globals(MMENGINE_CHECKPOINT_GLOBALS)
