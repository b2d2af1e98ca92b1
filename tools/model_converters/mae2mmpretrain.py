"""Convert an MAE checkpoint of the authors (facebookresearch/mae:
pretraining, encoder-only or fine-tuned) to mmpretrain's layout, which is
the plugin's, or back with ``--reverse``.

    python tools/model_converters/mae2mmpretrain.py SRC DST [--reverse] \
        [--trust]

The code is :mod:`mixmim_tools.cli.mae2mmpretrain`.
"""
import sys

from mixmim_tools.cli.mae2mmpretrain import main

if __name__ == '__main__':
    sys.exit(main())
