from .attention import (BACKENDS, Attention, attend, default_backend,
                        use_plugin_attention)
from .checked_load import (CheckpointMismatchError, LoadSpec, check_pretrained,
                           check_state)
from .masks import (check_mix_units, same_source_pairs, stack_masks,
                    upsample_mask)
from .sync_bn import PortableSyncBatchNorm
from .token_layout import (GroupLayout, WindowLayout, build_layout,
                           resolve_window)
from .window_attention import LayoutMSA, relative_position_index

__all__ = [
    'BACKENDS', 'Attention', 'attend', 'default_backend',
    'use_plugin_attention', 'PortableSyncBatchNorm', 'GroupLayout',
    'WindowLayout', 'LayoutMSA', 'build_layout', 'relative_position_index',
    'resolve_window', 'CheckpointMismatchError', 'LoadSpec',
    'check_pretrained', 'check_state', 'check_mix_units', 'same_source_pairs',
    'stack_masks', 'upsample_mask'
]
