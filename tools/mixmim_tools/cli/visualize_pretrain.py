"""Draw what a pretrained MixMIM, MAE or DropPos model does with a folder of
images.

    python tools/visualization/visualize_pretrain.py CONFIG CHECKPOINT \
        IMAGE_DIR [--out-dir DIR] [--num-images 8] [--seed 0] \
        [--cfg-options key=value ...]

One PNG per run, in ``--out-dir`` (default: ``work_dirs/vis``):

* MixMIM -> ``mixmim_reconstruction.png``: per pair, both originals, the
  mix mask, the mixed input and both images rebuilt from it;
* MAE -> ``mae_reconstruction.png``: original, masked input,
  reconstruction, reconstruction with the visible patches pasted back;
* DropPos -> ``droppos_positions.png``: original with its patch grid, the
  masks, the dropped positions predicted right (green) or wrong (red, with
  an arrow to the predicted position) and the patches moved to their
  predicted positions.

The images (the first ``--num-images``, sorted, searched recursively) go
through the config's training pipeline without its random augmentations
(the crop becomes a resize); masks are drawn from ``--seed``. The
checkpoint must be in the plugin's layout and match the model exactly
(convert others with tools/model_converters). Exit status: 0 written,
2 unusable config (or a method without a picture), 3 checkpoint does not
fit, 4 no images.
"""
import argparse
import os.path as osp
import sys

from mmengine.config import DictAction
from mmengine.runner import set_random_seed

from ..visualization import save_png
from ..visualization.pretrain import (CheckpointMismatch, ConfigError,
                                      NoImagesError, build_model, list_images,
                                      load_config, load_weights, visualize)

EXIT_CODES = {ConfigError: 2, CheckpointMismatch: 3, NoImagesError: 4}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='the pretraining config')
    parser.add_argument('checkpoint', help='a plugin checkpoint of it')
    parser.add_argument('image_dir', help='folder of images')
    parser.add_argument('--out-dir', default='work_dirs/vis')
    parser.add_argument(
        '--num-images',
        type=int,
        default=8,
        help='how many images to draw (MixMIM: rounded down to pairs)')
    parser.add_argument('--seed', type=int, default=0, help='mask seed')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.num_images < 1:
        print('error: --num-images must be at least 1', file=sys.stderr)
        return 2
    try:
        cfg = load_config(args.config)
        if args.cfg_options:
            cfg.merge_from_dict(args.cfg_options)
        paths = list_images(args.image_dir, args.num_images)
        model = build_model(cfg)
        load_weights(model, args.checkpoint)
        set_random_seed(args.seed)
        name, grid = visualize(cfg, model, paths)
    except tuple(EXIT_CODES) as err:
        print(f'error: {err}', file=sys.stderr)
        return EXIT_CODES[type(err)]
    png = save_png(grid, osp.join(args.out_dir, f'{name}.png'))
    print(f'{len(paths)} images from {args.image_dir} -> {png}')
    return 0
