"""Training curves from mmengine's JSON scalar logs.

mmengine's ``LoggerHook`` writes one JSON object per logging step to
``<work_dir>/<timestamp>/vis_data/scalars.json``: the training lines carry
``iter`` (and ``epoch`` in epoch-based runs), ``step`` (the global
iteration) and the logged values (``lr``, ``loss``, every other key the
model returns: DropPos's ``acc_pos``, MoBY's ``momentum``, ...; hooks add
more, e.g. DropPos's ``sigma``); validation lines carry ``step`` and the
metrics. A resumed run writes a new ``<timestamp>`` folder; a work dir
given as input is read as all its runs in time order.
"""
import glob
import json
import os
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

Curves = Dict[str, List[Tuple[int, float]]]  # key -> [(step, value)]
# keys plotted by default when present (after ``loss``)
METHOD_KEYS = ('loss_pos', 'loss_mae', 'acc_pos', 'sigma', 'momentum')
NOT_PLOTTED = ('step', 'iter', 'epoch')


class LogError(ValueError):
    """A log is missing, malformed or lacks a requested key."""


def find_logs(path: str) -> List[str]:
    """``path`` itself if it is a file, else the ``scalars.json`` of every
    run under the work dir ``path`` (sorted by timestamp folder)."""
    if osp.isfile(path):
        return [path]
    if osp.isdir(path):
        found = sorted(
            glob.glob(osp.join(path, '*', 'vis_data', 'scalars.json')))
        if found:
            return found
        raise LogError(f'no <timestamp>/vis_data/scalars.json under {path}')
    raise LogError(f'log not found: {path}')


def load_train_curves(path: str) -> Curves:
    """The training scalars of a log file or work dir, per key, by global
    step. Lines of later runs (a resumed training) replace earlier lines of
    the same step.

    Raises:
        LogError: no log, a line that is not a JSON object, or no training
            line at all.
    """
    by_step: Dict[int, dict] = {}
    for log in find_logs(path):
        with open(log) as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as err:
                    raise LogError(f'{log}:{number}: not JSON ({err})') \
                        from None
                if not isinstance(record, dict) or 'step' not in record:
                    raise LogError(f'{log}:{number}: not an mmengine scalar '
                                   'record (no "step")')
                if 'iter' in record or 'lr' in record:  # training lines
                    by_step[int(record['step'])] = record
    if not by_step:
        raise LogError(f'{path}: no training lines (with "iter" or "lr")')
    curves: Curves = OrderedDict()
    for step in sorted(by_step):
        for key, value in by_step[step].items():
            if key not in NOT_PLOTTED and isinstance(value, (int, float)):
                curves.setdefault(key, []).append((step, float(value)))
    return curves


def default_keys(runs: Sequence[Curves]) -> List[str]:
    """``loss`` and the method-specific keys that some run logged."""
    present = set().union(*(run.keys() for run in runs))
    return [k for k in ('loss', ) + METHOD_KEYS if k in present]


def run_label(path: str) -> str:
    """A legend label: the work dir's name (for ``.../<work_dir>/
    <timestamp>/vis_data/scalars.json`` or a work dir), else the path."""
    path = osp.abspath(path)
    if osp.isdir(path):
        return osp.basename(path)
    parts = path.split(osp.sep)
    if parts[-2:] == ['vis_data', 'scalars.json'] and len(parts) >= 5:
        return parts[-4]
    return osp.basename(path)


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average over ``window`` points (1: unchanged)."""
    if window <= 1 or len(values) < 2:
        return values
    cumsum = np.cumsum(np.insert(values, 0, 0.))
    counts = np.minimum(np.arange(1, len(values) + 1), window)
    starts = np.arange(1, len(values) + 1) - counts
    return (cumsum[1:] - cumsum[starts]) / counts


def plot_curves(runs: Dict[str, Curves],
                keys: Sequence[str],
                out: str,
                window: int = 1,
                title: Optional[str] = None) -> str:
    """One panel per key (shared iteration axis), one line per run; saved
    as PNG at ``out``, which is returned.

    Raises:
        LogError: a key that no run logged (the message lists the logged
            keys).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    logged = sorted(set().union(*(run.keys() for run in runs.values())))
    unknown = [k for k in keys if not any(k in run for run in runs.values())]
    if unknown:
        raise LogError(f'no run logged {unknown}; logged keys: {logged}')
    figure = Figure(figsize=(8, 2.4 * len(keys) + 0.6))
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(keys), 1, sharex=True, squeeze=False)[:, 0]
    for ax, key in zip(axes, keys):
        for index, (label, run) in enumerate(runs.items()):
            if key in run:  # one colour per run in every panel
                steps, values = np.asarray(run[key]).T
                ax.plot(
                    steps,
                    smooth(values, window),
                    label=label,
                    color=f'C{index % 10}',
                    lw=1)
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
    handles = [line for ax in axes for line in ax.get_lines()]
    labels = {line.get_label(): line for line in handles}
    axes[0].legend(labels.values(), labels.keys(), fontsize='small')
    axes[-1].set_xlabel('iteration')
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    tmp = f'{out}.tmp.png'
    figure.savefig(tmp, dpi=100, format='png')
    os.replace(tmp, out)
    return out


def summarize(runs: Dict[str, Curves], keys: Sequence[str]) -> List[str]:
    """One line per run and key: first, last, min and max value."""
    lines = []
    for label, run in runs.items():
        for key in keys:
            if key in run:
                values = np.asarray(run[key])[:, 1]
                lines.append(f'{label} {key}: first {values[0]:.4g} last '
                             f'{values[-1]:.4g} min {values.min():.4g} max '
                             f'{values.max():.4g} ({len(values)} points)')
    return lines
