"""Convert an MAE checkpoint of the authors (facebookresearch/mae:
pretraining, encoder-only or fine-tuned) to mmpretrain's layout, which is
the plugin's, or back with ``--reverse``.

    python tools/model_converters/mae2mmpretrain.py SRC DST [--reverse] \
        [--trust]

The plugin trains MAE with mmpretrain's own modules, so an mmpretrain MAE
checkpoint needs no conversion. A fine-tuned DropPos ViT is the same plain
ViT and converts the same way. The authors' files pickle their argparse
namespace: ``--trust`` reads such a file (it runs code from it). The output
holds ``state_dict`` and ``meta``; it is written to a temporary file and
renamed.
"""
import argparse
import sys

from mixmim_plugin.converters import (CheckpointFileError, LayoutError,
                                      load_checkpoint_file, mae_to_mmpretrain,
                                      mmpretrain_to_mae, save_checkpoint_file)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='checkpoint to convert')
    parser.add_argument('dst', help='output checkpoint')
    parser.add_argument(
        '--reverse',
        action='store_true',
        help="mmpretrain's / the plugin's layout -> the authors'")
    parser.add_argument(
        '--trust',
        action='store_true',
        help='read a checkpoint that pickles Python objects (runs its code)')
    args = parser.parse_args(argv)
    convert = mmpretrain_to_mae if args.reverse else mae_to_mmpretrain
    layout = 'authors' if args.reverse else 'mmpretrain'
    try:
        state = convert(load_checkpoint_file(args.src, args.trust))
    except (CheckpointFileError, LayoutError) as err:
        print(f'error: {args.src}: {err}', file=sys.stderr)
        return 2
    save_checkpoint_file(state, args.dst,
                         dict(converted_from=args.src, layout=layout))
    print(f'wrote {len(state)} tensors ({layout} MAE layout) to {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
