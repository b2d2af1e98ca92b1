from .mixmim import (LayoutError, authors_to_plugin, mmpretrain_to_plugin,
                     plugin_to_authors, plugin_to_mmpretrain, unwrap)

__all__ = [
    'LayoutError', 'authors_to_plugin', 'mmpretrain_to_plugin',
    'plugin_to_authors', 'plugin_to_mmpretrain', 'unwrap'
]
