"""Extract the encoder of a plugin pretraining checkpoint (MixMIM, DropPos,
MAE, MoBY) for fine-tuning, detection and segmentation.

    python tools/model_converters/plugin2backbone.py SRC DST \
        [--branch online|target] [--check-config CONFIG [--strict]]

The output holds ``backbone.*`` only, the layout that the transfer configs
load with ``init_cfg=dict(type='Pretrained', checkpoint=DST,
prefix='backbone.')`` (and mmdet's / mmseg's Swin without a prefix);
decoders, heads, MoBY's other branches and pretraining-only encoder
parameters (mask tokens, mix embeddings) are dropped. ``--check-config``
builds ``model.backbone`` of a downstream config and loads the result into
it the way that ``init_cfg`` does, listing the weights it leaves at their
initialisation (e.g. new output norms) and the ones it ignores; a shape
mismatch or nothing loaded is an error, and with ``--strict`` so is any
missing or ignored weight. Exit status: 0 written, 1 ``--strict`` failed,
2 unusable input.
"""
import argparse
import sys

from mixmim_plugin.converters import (CheckpointFileError, LayoutError,
                                      check_backbone, load_checkpoint_file,
                                      save_checkpoint_file, to_backbone)
from mixmim_plugin.converters.downstream import backbone_from_config

SHOWN = 8


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='plugin pretraining checkpoint')
    parser.add_argument('dst', help='output backbone checkpoint')
    parser.add_argument(
        '--branch',
        default='online',
        choices=['online', 'target'],
        help="the encoder (default) or MoBY's momentum encoder")
    parser.add_argument(
        '--check-config',
        help='a downstream config whose model.backbone must take the result')
    parser.add_argument(
        '--strict',
        action='store_true',
        help='with --check-config: fail on any missing or ignored weight')
    return parser.parse_args(argv)


def report(name: str, keys: list) -> None:
    if keys:
        more = f' (+{len(keys) - SHOWN} more)' if len(keys) > SHOWN else ''
        print(f'{name} ({len(keys)}): {keys[:SHOWN]}{more}')


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        state = to_backbone(
            load_checkpoint_file(args.src, trust_option=None), args.branch)
        if args.check_config:
            result = check_backbone(state,
                                    backbone_from_config(args.check_config))
    except (CheckpointFileError, LayoutError) as err:
        print(f'error: {args.src}: {err}', file=sys.stderr)
        return 2
    if args.check_config:
        print(f'{args.check_config}: {len(result.loaded)} backbone tensors '
              'loaded')
        report('left at initialisation', result.missing)
        report('ignored', result.unexpected)
        if args.strict and (result.missing or result.unexpected):
            print(
                'error: --strict: the backbone does not match exactly',
                file=sys.stderr)
            return 1
    save_checkpoint_file(
        state, args.dst,
        dict(converted_from=args.src, branch=args.branch, prefix='backbone.'))
    print(f'wrote {len(state)} backbone tensors to {args.dst}')
    return 0
