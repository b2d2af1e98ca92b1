"""Convert a DropPos pretraining checkpoint of the authors
(Haochen-Wang409/DropPos, plain or multi-task) to the plugin's layout, or
back with ``--reverse``.

    python tools/model_converters/droppos2plugin.py SRC DST [--reverse] \
        [--trust]

The converted checkpoint loads into the plugin's ``DropPos`` with a
``DropPosViT`` of the same size (``configs/droppos``; the multi-task
variant into ``droppos-mt-*``). The authors' files pickle their argparse
namespace: ``--trust`` reads such a file (it runs code from it). The output
holds ``state_dict`` and ``meta``; it is written to a temporary file and
renamed.
"""
import sys

from mixmim_plugin.converters import (convert_file, converter_parser,
                                      droppos_to_plugin, plugin_to_droppos)


def main(argv=None) -> int:
    parser = converter_parser(
        __doc__.splitlines()[0],
        reverse_help="the plugin's layout -> the authors'")
    args = parser.parse_args(argv)
    convert = plugin_to_droppos if args.reverse else droppos_to_plugin
    layout = 'authors' if args.reverse else 'plugin'
    return convert_file(args.src, args.dst, args.trust, convert,
                        dict(layout=layout), f'{layout} DropPos layout')


if __name__ == '__main__':
    sys.exit(main())
