"""Convert a MixMIM checkpoint (mmpretrain's or the authors') to the
plugin's layout, or the plugin's to theirs.

    python tools/model_converters/mixmim2plugin.py SRC DST \
        [--src-layout {mmpretrain,authors,auto}] [--to {plugin,mmpretrain,authors}]

The output holds ``state_dict`` (and ``meta`` with the source path); it is
written to a temporary file and renamed, so a failed run leaves no half-written
checkpoint.
"""
import argparse
import os
import os.path as osp
import sys

import torch

from mixmim_plugin.converters import (LayoutError, authors_to_plugin,
                                      mmpretrain_to_plugin, plugin_to_authors,
                                      plugin_to_mmpretrain, unwrap)

TO_PLUGIN = {'mmpretrain': mmpretrain_to_plugin, 'authors': authors_to_plugin}
FROM_PLUGIN = {'mmpretrain': plugin_to_mmpretrain, 'authors': plugin_to_authors}


def detect_layout(state: dict) -> str:
    if 'patch_embed.proj.weight' in state:
        return 'authors'
    if any(k.endswith('relative_position_index') for k in state) or any(
            k.startswith('neck.ln1.') for k in state):
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src')
    parser.add_argument('dst')
    parser.add_argument(
        '--src-layout',
        default='auto',
        choices=['auto', 'mmpretrain', 'authors', 'plugin'])
    parser.add_argument(
        '--to', default='plugin', choices=['plugin', 'mmpretrain', 'authors'])
    args = parser.parse_args(argv)
    if not osp.isfile(args.src):
        parser.error(f'checkpoint not found: {args.src}')
    checkpoint = torch.load(args.src, map_location='cpu')
    try:
        state = convert(checkpoint, args.src_layout, args.to)
    except LayoutError as err:
        print(f'error: {args.src}: {err}', file=sys.stderr)
        return 2
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    tmp = args.dst + '.tmp'
    torch.save({'state_dict': state, 'meta': {'converted_from': args.src}},
               tmp)
    os.replace(tmp, args.dst)
    print(f'wrote {len(state)} tensors ({args.to} layout) to {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
