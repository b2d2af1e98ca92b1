from .checkpoint_files import BrokenCheckpointError
from .hooks import *  # noqa: F401,F403
from .non_finite import NonFiniteTrainingError
from .optimizers import *  # noqa: F401,F403
from .randomness import SeededDataset, SeededSampler
from .runner import (FaultTolerantRunner, NonFiniteCheckpointError,
                     ResumeMismatchError)

__all__ = [
    'BrokenCheckpointError', 'FaultTolerantRunner', 'NonFiniteCheckpointError',
    'NonFiniteTrainingError', 'ResumeMismatchError', 'SeededDataset',
    'SeededSampler'
]
