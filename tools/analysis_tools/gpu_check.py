"""The prepared GPU check (CUDA-only tests, then the MixMIM-B benchmark at
batch 64 and 128); ``gpu_check.sh`` beside it picks the interpreter.

    python tools/analysis_tools/gpu_check.py [--out-dir work_dirs/gpu_check]
        [--batches 64 128] [--precisions fp16 bf16] [--budget 480]

The code is :mod:`mixmim_tools.cli.gpu_check`.
"""
import sys

from mixmim_tools.cli.gpu_check import main

if __name__ == '__main__':
    sys.exit(main())
