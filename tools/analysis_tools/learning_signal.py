"""Learning-signal benchmark: does each method's pretraining beat a random
encoder, frozen (k-NN, linear probe), after fine-tuning and in transfer
(Mask R-CNN, UPerNet)?

    python tools/analysis_tools/learning_signal.py [CONFIG ...]
        [--protocol knn linear finetune det seg] [--iters 600]
        [--finetune-iters 190] [--det-iters 360] [--seg-iters 240]
        [--data data/embedded] [--out-dir DIR] [--knn-k 20]
        [--probe-epochs 100] [--num-workers N] [--seed 0]
        [--cfg-options KEY=VALUE ...]

The code is :mod:`mixmim_tools.cli.learning_signal`.
"""
import sys

from mixmim_tools.cli.learning_signal import main

if __name__ == '__main__':
    sys.exit(main())
