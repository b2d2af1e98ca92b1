"""Convert a DropPos pretraining checkpoint of the authors
(Haochen-Wang409/DropPos, plain or multi-task) to the plugin's layout, or
back with ``--reverse``.

    python tools/model_converters/droppos2plugin.py SRC DST [--reverse] \
        [--trust]

The code is :mod:`mixmim_tools.cli.droppos2plugin`.
"""
import sys

from mixmim_tools.cli.droppos2plugin import main

if __name__ == '__main__':
    sys.exit(main())
