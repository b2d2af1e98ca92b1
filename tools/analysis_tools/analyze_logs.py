"""Plot training curves of plugin runs from mmengine's JSON logs.

    python tools/analysis_tools/analyze_logs.py LOG [LOG ...] --out PNG \
        [--keys loss acc_pos ...] [--legend A B ...] [--smooth N] \
        [--title T]

The code is :mod:`mixmim_tools.cli.analyze_logs`.
"""
import sys

from mixmim_tools.cli.analyze_logs import main

if __name__ == '__main__':
    sys.exit(main())
