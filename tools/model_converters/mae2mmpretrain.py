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
import sys

from mixmim_plugin.converters import (convert_file, converter_parser,
                                      mae_to_mmpretrain, mmpretrain_to_mae)


def main(argv=None) -> int:
    parser = converter_parser(
        __doc__.splitlines()[0],
        reverse_help="mmpretrain's / the plugin's layout -> the authors'")
    args = parser.parse_args(argv)
    convert = mmpretrain_to_mae if args.reverse else mae_to_mmpretrain
    layout = 'authors' if args.reverse else 'mmpretrain'
    return convert_file(args.src, args.dst, args.trust, convert,
                        dict(layout=layout), f'{layout} MAE layout')


if __name__ == '__main__':
    sys.exit(main())
