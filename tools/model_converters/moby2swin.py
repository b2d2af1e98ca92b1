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
import argparse
import os
import os.path as osp
import sys

import torch

from mixmim_plugin.converters import LayoutError, moby_to_swin, swin_arch


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='MoBY or Swin checkpoint')
    parser.add_argument('dst', help='output checkpoint')
    parser.add_argument(
        '--branch',
        default='online',
        choices=['online', 'target'],
        help='the online encoder (default) or the momentum (target) one')
    args = parser.parse_args(argv)
    if not osp.isfile(args.src):
        parser.error(f'checkpoint not found: {args.src}')
    try:
        # a checkpoint is a pickle: convert only files you trust (the
        # authors' MoBY checkpoints also pickle their yacs config)
        checkpoint = torch.load(
            args.src, map_location='cpu', weights_only=False)
        state = moby_to_swin(checkpoint, args.branch)
    except ModuleNotFoundError as err:
        print(
            f'error: {args.src} pickles an object of a missing module '
            f'({err.name}); install it to read the checkpoint',
            file=sys.stderr)
        return 2
    except LayoutError as err:
        print(f'error: {args.src}: {err}', file=sys.stderr)
        return 2
    arch = swin_arch({k[len('backbone.'):]: v for k, v in state.items()})
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    tmp = args.dst + '.tmp'
    meta = dict(converted_from=args.src, branch=args.branch, arch=arch)
    torch.save({'state_dict': state, 'meta': meta}, tmp)
    os.replace(tmp, args.dst)
    print(f'wrote {len(state)} tensors of the {args.branch} Swin '
          f'(embed_dims {arch["embed_dims"]}, depths {list(arch["depths"])})'
          f' to {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
