"""Convert a whole MoBY checkpoint of the authors
(SwinTransformer/Transformer-SSL, Swin or DeiT encoders) to the plugin's
``MoBY`` layout, or back with ``--reverse``.

    python tools/model_converters/moby2plugin.py SRC DST [--reverse] \
        [--img-size 224] [--trust]

The code is :mod:`mixmim_tools.cli.moby2plugin`.
"""
import sys

from mixmim_tools.cli.moby2plugin import main

if __name__ == '__main__':
    sys.exit(main())
