from .downstream import LoadReport, check_backbone, to_backbone
from .droppos import droppos_to_plugin, plugin_to_droppos
from .io import CheckpointFileError, load_checkpoint_file, save_checkpoint_file
from .mae import mae_to_mmpretrain, mmpretrain_to_mae
from .mixmim import (authors_to_plugin, mmpretrain_to_plugin,
                     plugin_to_authors, plugin_to_mmpretrain)
from .moby import moby_to_plugin, plugin_to_moby
from .rules import LayoutError, unwrap
from .swin import moby_to_swin, official_to_mmcv, swin_arch

__all__ = [
    'LayoutError', 'authors_to_plugin', 'mmpretrain_to_plugin',
    'plugin_to_authors', 'plugin_to_mmpretrain', 'unwrap', 'moby_to_swin',
    'official_to_mmcv', 'swin_arch', 'droppos_to_plugin', 'plugin_to_droppos',
    'LoadReport', 'check_backbone', 'to_backbone', 'CheckpointFileError',
    'load_checkpoint_file', 'save_checkpoint_file', 'mae_to_mmpretrain',
    'mmpretrain_to_mae', 'moby_to_plugin', 'plugin_to_moby'
]
