"""Training-step speed and peak memory: the plugin's MixMIM-B against
mmpretrain's MixMIM-B, on the same device, batch and input, in one run.

    python tools/analysis_tools/benchmark_pretrain.py [--batch 4]
        [--iters 6] [--warmup 2] [--precisions fp32 bf16] [--device cpu]

The code is :mod:`mixmim_tools.cli.benchmark_pretrain`.
"""
import sys

from mixmim_tools.cli.benchmark_pretrain import main

if __name__ == '__main__':
    sys.exit(main())
