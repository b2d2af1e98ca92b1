"""Draw what a pretrained MixMIM, MAE or DropPos model does with a folder of
images.

    python tools/visualization/visualize_pretrain.py CONFIG CHECKPOINT \
        IMAGE_DIR [--out-dir DIR] [--num-images 8] [--seed 0] \
        [--cfg-options key=value ...]

The code is :mod:`mixmim_tools.cli.visualize_pretrain`.
"""
import sys

from mixmim_tools.cli.visualize_pretrain import main

if __name__ == '__main__':
    sys.exit(main())
