"""The README's main job: pretrain a tiny MixMIM on the embedded data.

    python tools/demo.py [--data data/embedded] [--work-dir DIR]

The code is :mod:`mixmim_tools.cli.demo`.
"""
import sys

from mixmim_tools.cli.demo import main

if __name__ == '__main__':
    sys.exit(main())
