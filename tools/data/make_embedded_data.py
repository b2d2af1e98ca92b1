"""Generate the embedded ImageNet-, COCO- and ADE20K-style datasets.

    python tools/data/make_embedded_data.py --out data/embedded
    python tools/data/make_embedded_data.py --out DIR --seed 1 --force

The code is :mod:`mixmim_tools.cli.make_embedded_data`.
"""
import sys

from mixmim_tools.cli.make_embedded_data import main

if __name__ == '__main__':
    sys.exit(main())
