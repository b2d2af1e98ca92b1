"""Evaluate a checkpoint (mmpretrain's test.py, with the plugin).

    python tools/test.py CONFIG CHECKPOINT [--out results.pkl]

The code is :mod:`mixmim_tools.cli.test`.
"""
import sys

from mixmim_tools.cli.test import main

if __name__ == '__main__':
    sys.exit(main())
