"""The README's main job: pretrain a tiny MixMIM on the embedded data.

    python tools/demo.py [--data data/embedded] [--work-dir DIR]

Generates the embedded datasets if needed, trains
configs/mixmim/mixmim-tiny_1xb32_20e_embedded.py on the CPU (progress in the
log), checks that the loss went down, and writes a PNG of the dual
reconstruction of validation images.
"""
import argparse
import os.path as osp
import sys

import numpy as np
from mmengine.config import Config
from mmengine.dataset import Compose, default_collate
from mmengine.registry import DefaultScope

import mixmim_plugin  # noqa: F401
from ..console import ProgressRunner
from ..data.embedded import make_embedded_data
from ..visualization import save_png
from ..visualization.mixmim import draw_mixmim

DEFAULT_CONFIG = 'configs/mixmim/mixmim-tiny_1xb32_20e_embedded.py'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument('--data', default='data/embedded')
    parser.add_argument(
        '--work-dir', default='work_dirs/mixmim-tiny_1xb32_20e_embedded')
    parser.add_argument('--epochs', type=int, default=None)
    parser.add_argument('--num-pairs', type=int, default=4)
    return parser.parse_args(argv)


def epoch_losses(runner: ProgressRunner) -> list:
    """Mean training loss of each epoch, from the message hub."""
    losses, _ = runner.message_hub.get_scalar('train/loss').data
    per_epoch = len(runner.train_dataloader)
    return [
        float(np.mean(losses[i:i + per_epoch]))
        for i in range(0, len(losses), per_epoch)
    ]


def validation_batch(cfg: Config, data_root: str, count: int):
    """Normalized val images and their mix masks, through the config's own
    pipeline (so sizes and mask units match training)."""
    pipeline = Compose(cfg.train_dataloader.dataset.pipeline)
    with open(osp.join(data_root, 'meta', 'val.txt')) as f:
        names = [line.split()[0] for line in f][::10][:count]
    samples = [
        pipeline(dict(img_path=osp.join(data_root, 'val', name)))
        for name in names
    ]
    return samples


def main(argv=None):
    args = parse_args(argv)
    roots = make_embedded_data(args.data)
    cfg = Config.fromfile(args.config)
    cfg.work_dir = args.work_dir
    cfg.train_dataloader.dataset.data_root = roots['imagenet']
    if args.epochs is not None:
        cfg.train_cfg.max_epochs = args.epochs
        schedulers = []
        for scheduler in cfg.param_scheduler:
            scheduler.end = min(scheduler.end, args.epochs)
            if scheduler.end > scheduler.begin:
                if 'T_max' in scheduler:
                    scheduler.T_max = scheduler.end - scheduler.begin
                schedulers.append(scheduler)
        cfg.param_scheduler = schedulers
    runner = ProgressRunner.from_cfg(cfg)
    runner.train()

    losses = epoch_losses(runner)
    print(f'mean loss per epoch: first {losses[0]:.4f} -> last '
          f'{losses[-1]:.4f}')
    if not losses[-1] < losses[0]:
        print('the loss did not go down', file=sys.stderr)
        return 1

    model = runner.model
    with DefaultScope.overwrite_default_scope('mixmim_plugin'):
        samples = validation_batch(cfg, roots['imagenet'], 2 * args.num_pairs)
    data = model.data_preprocessor(default_collate(samples), False)
    preprocessor = cfg.data_preprocessor
    grid = draw_mixmim(model, data, preprocessor.mean, preprocessor.std)
    png = save_png(grid, osp.join(args.work_dir, 'mixmim_reconstruction.png'))
    checkpoint = osp.join(args.work_dir,
                          f'epoch_{cfg.train_cfg.max_epochs}.pth')
    print(f'checkpoint: {checkpoint}\nreconstructions: {png}')
    return 0
