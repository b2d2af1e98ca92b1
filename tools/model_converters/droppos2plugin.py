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
import argparse
import sys

from mixmim_plugin.converters import (CheckpointFileError, LayoutError,
                                      droppos_to_plugin, load_checkpoint_file,
                                      plugin_to_droppos, save_checkpoint_file)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='checkpoint to convert')
    parser.add_argument('dst', help='output checkpoint')
    parser.add_argument(
        '--reverse',
        action='store_true',
        help="the plugin's layout -> the authors'")
    parser.add_argument(
        '--trust',
        action='store_true',
        help='read a checkpoint that pickles Python objects (runs its code)')
    args = parser.parse_args(argv)
    convert = plugin_to_droppos if args.reverse else droppos_to_plugin
    layout = 'authors' if args.reverse else 'plugin'
    try:
        state = convert(load_checkpoint_file(args.src, args.trust))
    except (CheckpointFileError, LayoutError) as err:
        print(f'error: {args.src}: {err}', file=sys.stderr)
        return 2
    save_checkpoint_file(state, args.dst,
                         dict(converted_from=args.src, layout=layout))
    print(f'wrote {len(state)} tensors ({layout} DropPos layout) to '
          f'{args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
