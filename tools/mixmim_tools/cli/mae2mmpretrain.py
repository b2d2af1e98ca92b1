"""Convert an MAE checkpoint of the authors (facebookresearch/mae:
pretraining, encoder-only or fine-tuned) to mmpretrain's layout, which is
the plugin's, or back with ``--reverse``.

    python tools/model_converters/mae2mmpretrain.py SRC DST [--reverse] \
        [--trust]

The plugin trains MAE with mmpretrain's own modules, so an mmpretrain MAE
checkpoint needs no conversion. A fine-tuned DropPos ViT is the same plain
ViT and converts the same way. ``--trust`` and the output: see
:mod:`mixmim_tools.cli.convert`.
"""
from mixmim_plugin.converters import mae_to_mmpretrain, mmpretrain_to_mae
from .convert import reversible_main


def main(argv=None) -> int:
    return reversible_main(
        argv, __doc__, mae_to_mmpretrain, mmpretrain_to_mae, 'mmpretrain',
        'MAE', "mmpretrain's / the plugin's layout -> the authors'")
