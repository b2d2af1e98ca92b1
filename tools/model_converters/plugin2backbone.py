"""Extract the encoder of a plugin pretraining checkpoint (MixMIM, DropPos,
MAE, MoBY) for fine-tuning, detection and segmentation.

    python tools/model_converters/plugin2backbone.py SRC DST \
        [--branch online|target] [--check-config CONFIG [--strict]]

The code is :mod:`mixmim_tools.cli.plugin2backbone`.
"""
import sys

from mixmim_tools.cli.plugin2backbone import main

if __name__ == '__main__':
    sys.exit(main())
