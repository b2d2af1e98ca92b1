"""Convert a whole MoBY checkpoint of the authors
(SwinTransformer/Transformer-SSL, Swin or DeiT encoders) to the plugin's
``MoBY`` layout, or back with ``--reverse``.

    python tools/model_converters/moby2plugin.py SRC DST [--reverse] \
        [--img-size 224] [--trust]

Both encoders, projectors, the predictor and the queues are converted; the
momentum schedule's counter starts at 0. For the online encoder alone in
the Swin layout of mmdet / mmseg / mmpretrain use moby2swin.py. The
authors' files pickle their yacs config: ``--trust`` reads such a file (it
runs code from it). ``--img-size`` (with ``--reverse``) sizes the
shifted-window masks that the authors' Swin stores. The output holds
``state_dict`` and ``meta``; it is written to a temporary file and renamed.
"""
import argparse
import sys

from mixmim_plugin.converters import (CheckpointFileError, LayoutError,
                                      load_checkpoint_file, moby_to_plugin,
                                      plugin_to_moby, save_checkpoint_file)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='checkpoint to convert')
    parser.add_argument('dst', help='output checkpoint')
    parser.add_argument(
        '--reverse',
        action='store_true',
        help="the plugin's layout -> the authors'")
    parser.add_argument(
        '--img-size',
        type=int,
        default=224,
        help='pretraining input size (with --reverse, for the Swin masks)')
    parser.add_argument(
        '--trust',
        action='store_true',
        help='read a checkpoint that pickles Python objects (runs its code)')
    args = parser.parse_args(argv)
    layout = 'authors' if args.reverse else 'plugin'
    try:
        checkpoint = load_checkpoint_file(args.src, args.trust)
        if args.reverse:
            state = plugin_to_moby(checkpoint, args.img_size)
        else:
            state = moby_to_plugin(checkpoint)
    except (CheckpointFileError, LayoutError) as err:
        print(f'error: {args.src}: {err}', file=sys.stderr)
        return 2
    save_checkpoint_file(state, args.dst,
                         dict(converted_from=args.src, layout=layout))
    print(f'wrote {len(state)} tensors ({layout} MoBY layout) to {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
