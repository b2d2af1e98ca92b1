from .checked_load import (CheckpointMismatchError, LoadSpec, check_pretrained,
                           check_state)
from .sync_bn import PortableSyncBatchNorm
from .token_layout import (GroupLayout, WindowLayout, build_layout,
                           resolve_window)
from .window_attention import WindowMSA, relative_position_index

__all__ = [
    'PortableSyncBatchNorm', 'GroupLayout', 'WindowLayout', 'WindowMSA',
    'build_layout', 'relative_position_index', 'resolve_window',
    'CheckpointMismatchError', 'LoadSpec', 'check_pretrained', 'check_state'
]
