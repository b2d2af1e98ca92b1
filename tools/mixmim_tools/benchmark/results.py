"""The results of a benchmark of configs: one row per model and precision
(the table's :data:`COLUMNS`) and a bar chart."""
import os
import statistics
from typing import List, Optional, Sequence, Tuple

from .contenders import Contender
from .measure import count_parameters, state_bytes

COLUMNS: Tuple[Tuple[str, str], ...] = (
    ('model', 'model'),
    ('task', 'task'),
    ('precision', 'precision'),
    ('input', 'input'),
    ('params_m', 'params (M)'),
    ('fwd_gflops', 'fwd GFLOPs/img'),
    ('flops_of', 'FLOPs of'),
    ('flops_by', 'FLOPs by'),
    ('fwd_bwd_s', 'fwd+bwd (s)'),
    ('optim_s', 'optimizer (s)'),
    ('step_s', 'step (s)'),
    ('images_per_s', 'images/s'),
    ('speed_vs_first', 'speed vs first'),
    ('tflops', 'TFLOP/s'),
    ('infer_s', 'inference (s)'),
    ('infer_images_per_s', 'inference images/s'),
    ('state_mib', 'weights+optim (MiB)'),
    ('peak_mib', 'step peak (MiB)'),
)


def result_rows(contenders: Sequence[Contender],
                precisions: Sequence[str]) -> List[dict]:
    """One row per contender and precision (precision-major), keyed by the
    first entries of :data:`COLUMNS` plus ``config``, ``batch`` and
    ``precision``; numbers are rounded for display."""
    rows = []
    for precision in precisions:
        first = None
        for c in contenders:
            if precision not in c.times:
                continue  # the precision failed for this model (reported)
            runs = c.times[precision]
            step = statistics.median(r['fwd_bwd'] + r['optim'] for r in runs)
            speed = c.batch_size / step
            first = first or speed
            peak = c.memory.get(precision)
            infer = c.infer_times.get(precision)
            infer_s = infer and statistics.median(r['infer'] for r in infer)
            rows.append(
                dict(
                    model=c.name,
                    task=c.task,
                    config=c.config,
                    precision=precision,
                    batch=c.batch_size,
                    input=c.input_desc,
                    params_m=round(count_parameters(c.model) / 1e6, 2),
                    fwd_gflops=_round(c.fwd_flops, 1e9, 2),
                    flops_of=c.flops_of,
                    flops_by=c.flops_by,
                    fwd_bwd_s=round(
                        statistics.median(r['fwd_bwd'] for r in runs), 4),
                    optim_s=round(
                        statistics.median(r['optim'] for r in runs), 4),
                    step_s=round(step, 4),
                    images_per_s=round(speed, 2),
                    speed_vs_first=round(speed / first, 2),
                    tflops=_round(c.step_flops and c.step_flops / step, 1e12,
                                  3),
                    infer_s=_round(infer_s, 1, 4),
                    infer_images_per_s=_round(
                        infer_s and c.batch_size / infer_s, 1, 2),
                    state_mib=round(
                        state_bytes(c.model, c.optim_wrapper.optimizer) /
                        2**20),
                    peak_mib=_round(peak, 2**20, 0)))
    return rows


def _round(value: Optional[float], unit: float, digits: int):
    if value is None:
        return None
    rounded = round(value / unit, digits)
    return int(rounded) if digits == 0 else rounded


def bar_chart(rows: Sequence[dict], path: str, title: str) -> str:
    """Training images/s, step peak memory and (where any model predicts)
    inference images/s per model, one bar per precision; a PNG at
    ``path``."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(r['model'] for r in rows))
    precisions = list(dict.fromkeys(r['precision'] for r in rows))
    width = 0.8 / len(precisions)
    panels = [('images_per_s', 'training images/s (higher is better)'),
              ('peak_mib', 'step peak memory, MiB')]
    if any(r.get('infer_images_per_s') for r in rows):
        panels.append(('infer_images_per_s', 'inference images/s'))
    fig, axes = plt.subplots(
        1,
        len(panels),
        figsize=(3 + 2.2 * len(panels) + 0.8 * len(models), 5),
        squeeze=False)
    for ax, (key, label) in zip(axes[0], panels):
        for i, precision in enumerate(precisions):
            values = [
                next((r[key] or 0 for r in rows
                      if r['model'] == m and r['precision'] == precision), 0)
                for m in models
            ]
            xs = [
                j + (i - (len(precisions) - 1) / 2) * width
                for j in range(len(models))
            ]
            ax.bar(xs, values, width, label=precision)
        ax.set_xticks(range(len(models)))
        ax.set_xticklabels(models, rotation=30, ha='right', fontsize=8)
        ax.set_title(label)
        ax.legend()
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    partial = f'{path}.partial'
    fig.savefig(partial, dpi=100, format='png')
    plt.close(fig)
    os.replace(partial, path)
    return path
