"""Training-step benchmark of pretraining configs (the plugin's and any
installed package's, e.g. ``mmpretrain::``), measured interleaved in one run.

    python tools/analysis_tools/benchmark_models.py CONFIG [CONFIG ...]
        [--names NAME ...] [--batch 4] [--img-size N]
        [--precisions fp32 bf16] [--iters 6] [--warmup 2]
        [--device cpu|cuda] [--threads N] [--out-dir DIR]

The code is :mod:`mixmim_tools.cli.benchmark_models`.
"""
import sys

from mixmim_tools.cli.benchmark_models import main

if __name__ == '__main__':
    sys.exit(main())
