"""Convert a MixMIM checkpoint (mmpretrain's or the authors') to the
plugin's layout, or the plugin's to theirs.

    python tools/model_converters/mixmim2plugin.py SRC DST [--trust]
        [--src-layout {auto,mmpretrain,authors,plugin}]
        [--to {plugin,mmpretrain,authors}]

The code is :mod:`mixmim_tools.cli.mixmim2plugin`.
"""
import sys

from mixmim_tools.cli.mixmim2plugin import main

if __name__ == '__main__':
    sys.exit(main())
