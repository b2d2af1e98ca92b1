"""Convert a DropPos pretraining checkpoint of the authors
(Haochen-Wang409/DropPos, plain or multi-task) to the plugin's layout, or
back with ``--reverse``.

    python tools/model_converters/droppos2plugin.py SRC DST [--reverse] \
        [--trust]

The converted checkpoint loads into the plugin's ``DropPos`` with a
``DropPosViT`` of the same size (``configs/droppos``; the multi-task
variant into ``droppos-mt-*``). ``--trust`` and the output: see
:mod:`mixmim_tools.cli.convert`.
"""
from mixmim_plugin.converters import droppos_to_plugin, plugin_to_droppos
from .convert import reversible_main


def main(argv=None) -> int:
    return reversible_main(argv, __doc__, droppos_to_plugin, plugin_to_droppos,
                           'plugin', 'DropPos',
                           "the plugin's layout -> the authors'")
