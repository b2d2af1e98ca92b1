"""Convert a MoBY checkpoint (the plugin's or the authors') or an official
Swin checkpoint to the Swin layout of mmdet, mmseg and mmpretrain.

    python tools/model_converters/moby2swin.py SRC DST [--branch online]

The output holds ``state_dict`` (``backbone.*``: load it with
``init_cfg=dict(type='Pretrained', checkpoint=DST)`` in mmdet's / mmseg's
``SwinTransformer``, or with ``prefix='backbone.'`` in mmpretrain's) and
``meta``. It has been loaded strictly into an mmdet ``SwinTransformer`` of
the same architecture before it is written (to a temporary file, then
renamed), so it is complete.
"""
from functools import partial

from mixmim_plugin.converters import moby_to_swin
from .convert import convert_file, converter_parser


def main(argv=None) -> int:
    parser = converter_parser(__doc__.splitlines()[0])
    parser.add_argument(
        '--branch',
        default='online',
        choices=['online', 'target'],
        help='the online encoder (default) or the momentum (target) one')
    args = parser.parse_args(argv)
    convert = partial(moby_to_swin, branch=args.branch)
    return convert_file(args.src, args.dst, args.trust, convert,
                        dict(branch=args.branch, prefix='backbone.'),
                        f'{args.branch} Swin, backbone.* keys')
