"""Plot training curves of plugin runs from mmengine's JSON logs.

    python tools/analysis_tools/analyze_logs.py LOG [LOG ...] --out PNG \
        [--keys loss acc_pos ...] [--legend A B ...] [--smooth N] \
        [--title T]

A LOG is a ``<work_dir>/<timestamp>/vis_data/scalars.json`` or a work dir
(all its runs, e.g. a training and its resumption, in time order). Each key
gets its own panel (a loss near 1 and a momentum near 0.99 stay readable),
each run one line labelled with its work dir. By default: ``loss`` and,
where logged, DropPos's ``loss_pos``, ``loss_mae``, ``acc_pos`` and
``sigma`` and MoBY's ``momentum``. A summary (first / last / min / max per
key) is printed. Exit status 2 when a log or key is missing.

mmpretrain's ``tools/analysis_tools/analyze_logs.py`` (installed under
``mmpretrain/.mim/tools``) also reads these logs (``plot_curve
scalars.json --keys loss --out loss.png``, ``cal_train_time``), but draws
all keys on one axis and names every curve after the file (always
``scalars``).
"""
import argparse
import sys

from ..visualization.curves import (LogError, default_keys, load_train_curves,
                                    plot_curves, run_label, summarize)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        'logs', nargs='+', help='scalars.json files or work '
        'dirs')
    parser.add_argument('--out', required=True, help='output PNG')
    parser.add_argument('--keys', nargs='+', help='logged keys to plot')
    parser.add_argument('--legend', nargs='+', help='one label per log')
    parser.add_argument(
        '--smooth',
        type=int,
        default=1,
        help='moving-average window in logged points (1: raw)')
    parser.add_argument('--title', help='figure title')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    labels = args.legend or [run_label(log) for log in args.logs]
    if len(labels) != len(args.logs):
        print(
            f'error: {len(args.logs)} logs but {len(labels)} legend '
            'labels',
            file=sys.stderr)
        return 2
    if len(set(labels)) != len(labels):
        labels = [f'{label} ({i})' for i, label in enumerate(labels)]
    try:
        runs = {
            label: load_train_curves(log)
            for label, log in zip(labels, args.logs)
        }
        keys = args.keys or default_keys(list(runs.values()))
        png = plot_curves(runs, keys, args.out, args.smooth, args.title)
    except LogError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    print('\n'.join(summarize(runs, keys)))
    print(f'curves of {keys} -> {png}')
    return 0
