from .atomic_checkpoint_hook import AtomicCheckpointHook
from .coco_classes_check_hook import CocoClassesCheckHook
from .droppos_sigma_hook import DropPosSigmaHook
from .non_finite_sentinel_hook import NonFiniteSentinelHook
from .reproducible_randomness_hook import ReproducibleRandomnessHook

__all__ = [
    'AtomicCheckpointHook', 'CocoClassesCheckHook', 'DropPosSigmaHook',
    'NonFiniteSentinelHook', 'ReproducibleRandomnessHook'
]
