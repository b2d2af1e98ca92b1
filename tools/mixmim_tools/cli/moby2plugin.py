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
from functools import partial

from mixmim_plugin.converters import moby_to_plugin, plugin_to_moby
from .convert import convert_either_way, converter_parser


def main(argv=None) -> int:
    parser = converter_parser(
        __doc__.splitlines()[0],
        reverse_help="the plugin's layout -> the authors'")
    parser.add_argument(
        '--img-size',
        type=int,
        default=224,
        help='pretraining input size (with --reverse, for the Swin masks)')
    args = parser.parse_args(argv)
    return convert_either_way(args, moby_to_plugin,
                              partial(plugin_to_moby, img_size=args.img_size),
                              'plugin', 'MoBY')
