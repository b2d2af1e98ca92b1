"""Convert a MoBY checkpoint (the plugin's or the authors') or an official
Swin checkpoint to the Swin layout of mmdet, mmseg and mmpretrain.

    python tools/model_converters/moby2swin.py SRC DST [--branch online]

The code is :mod:`mixmim_tools.cli.moby2swin`.
"""
import sys

from mixmim_tools.cli.moby2swin import main

if __name__ == '__main__':
    sys.exit(main())
