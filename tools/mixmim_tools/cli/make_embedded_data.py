"""Generate the embedded ImageNet-, COCO- and ADE20K-style datasets.

    python tools/data/make_embedded_data.py --out data/embedded
    python tools/data/make_embedded_data.py --out DIR --seed 1 --force

A second run with the same version and seed finds the stamp and returns at
once; see :mod:`mixmim_tools.data.embedded` for the layout.
"""
import argparse
import sys
import time
from typing import List, Optional

from ..data.embedded import (GENERATOR_VERSION, is_generated,
                             make_embedded_data, read_stamp)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--out', default='data/embedded', help='directory to hold them')
    parser.add_argument(
        '--seed', type=int, default=0, help='non-negative generation seed')
    parser.add_argument(
        '--force',
        action='store_true',
        help='regenerate even if the directory is up to date')
    return parser.parse_args(argv)


def describe(roots: dict, summary: dict) -> List[str]:
    """One line per dataset: its root and what it holds."""
    imagenet, coco, ade = (summary[k] for k in ('imagenet', 'coco', 'ade'))
    splits = ', '.join(f'{s} {n}' for s, n in imagenet['images'].items())
    lines = [
        f'imagenet  {roots["imagenet"]}: {imagenet["classes"]} '
        f'classes, images {splits}'
    ]
    splits = ', '.join(f'{s} {c["images"]} images / {c["annotations"]} '
                       'instances' for s, c in coco['splits'].items())
    lines.append(f'coco      {roots["coco"]}: {coco["classes"]} '
                 f'categories, {splits}')
    splits = ', '.join(f'{s} {n}' for s, n in ade['images'].items())
    ids = ', '.join(str(i) for i in ade['class_ids'])
    lines.append(f'ade       {roots["ade"]}: label ids {ids}; image/label '
                 f'pairs {splits}')
    return lines


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    up_to_date = not args.force and is_generated(args.out, args.seed)
    start = time.perf_counter()
    try:
        roots = make_embedded_data(args.out, seed=args.seed, force=args.force)
    except (FileExistsError, ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - start
    stamp = read_stamp(args.out)
    for line in describe(roots, stamp['datasets']):
        print(line)
    action = 'up to date, nothing written' if up_to_date else 'generated'
    print(f'{action} in {elapsed:.2f} s (seed {args.seed}, generator '
          f'version {GENERATOR_VERSION})')
    return 0
