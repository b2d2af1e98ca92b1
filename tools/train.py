"""Train a model from a config (mmpretrain's train.py, with the plugin).

    python tools/train.py configs/mixmim/mixmim-b_8xb128_600e.py
    python tools/train.py CONFIG --work-dir DIR --resume [auto|PATH] --amp

The code is :mod:`mixmim_tools.cli.train`.
"""
import sys

from mixmim_tools.cli.train import main

if __name__ == '__main__':
    sys.exit(main())
