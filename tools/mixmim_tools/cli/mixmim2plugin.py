"""Convert a MixMIM checkpoint (mmpretrain's or the authors') to the
plugin's layout, or the plugin's to theirs.

    python tools/model_converters/mixmim2plugin.py SRC DST [--trust]
        [--src-layout {auto,mmpretrain,authors,plugin}]
        [--to {plugin,mmpretrain,authors}]

The authors' files pickle their argparse namespace: ``--trust`` reads such a
file (it runs code from it). The output holds ``state_dict`` and ``meta``;
it is written to a temporary file and renamed, so a failed run leaves no
half-written checkpoint.
"""
from functools import partial

from mixmim_plugin.converters import (LayoutError, authors_to_plugin,
                                      mmpretrain_to_plugin, plugin_to_authors,
                                      plugin_to_mmpretrain, unwrap)
from .convert import convert_file, converter_parser

TO_PLUGIN = {'mmpretrain': mmpretrain_to_plugin, 'authors': authors_to_plugin}
FROM_PLUGIN = {
    'mmpretrain': plugin_to_mmpretrain,
    'authors': plugin_to_authors
}


def detect_layout(state: dict) -> str:
    if 'patch_embed.proj.weight' in state:
        return 'authors'
    if any(k.endswith('relative_position_index')
           for k in state) or any(k.startswith('neck.ln1.') for k in state):
        return 'mmpretrain'
    if 'backbone.patch_embed.projection.weight' in state:
        return 'plugin'
    raise LayoutError('cannot tell the layout: no MixMIM patch embedding '
                      f'among {sorted(state)[:4]}')


def convert(checkpoint: dict, src_layout: str, to: str) -> dict:
    state = unwrap(checkpoint)
    if src_layout == 'auto':
        src_layout = detect_layout(state)
    if to == 'plugin':
        if src_layout == 'plugin':
            raise LayoutError('the checkpoint is already in the plugin layout')
        return TO_PLUGIN[src_layout](state)
    if src_layout not in ('plugin', 'auto'):
        state = TO_PLUGIN[src_layout](state)
    return FROM_PLUGIN[to](state)


def main(argv=None) -> int:
    parser = converter_parser(__doc__.splitlines()[0])
    parser.add_argument(
        '--src-layout',
        default='auto',
        choices=['auto', 'mmpretrain', 'authors', 'plugin'])
    parser.add_argument(
        '--to', default='plugin', choices=['plugin', 'mmpretrain', 'authors'])
    args = parser.parse_args(argv)
    return convert_file(
        args.src, args.dst, args.trust,
        partial(convert, src_layout=args.src_layout, to=args.to),
        dict(layout=args.to), f'{args.to} MixMIM layout')
