"""Writing tables of results (benchmarks, learning signal): markdown and
CSV files.

Files are written to a temporary name beside the target and renamed into
place, so an interrupted run never leaves a half-written table.
"""
import csv
import os
import os.path as osp
from contextlib import contextmanager
from typing import Iterator, List, Sequence, TextIO, Tuple

Columns = Sequence[Tuple[str, str]]  # (row key, header)


def _cell(value) -> str:
    return 'n/a' if value is None else str(value)


def markdown_table(rows: Sequence[dict], columns: Columns) -> List[str]:
    """The lines of a markdown table of ``rows`` (dicts) with the given
    (key, header) columns; ``None`` is written as ``n/a``."""
    lines = [
        '| ' + ' | '.join(header for _, header in columns) + ' |',
        '|' + '---|' * len(columns)
    ]
    for row in rows:
        lines.append('| ' + ' | '.join(_cell(row[key])
                                       for key, _ in columns) + ' |')
    return lines


def write_csv(rows: Sequence[dict], keys: Sequence[str], path: str) -> str:
    """``rows`` as CSV with a header of ``keys`` (empty cell for None)."""
    with _atomic_open(path, newline='') as f:
        writer = csv.DictWriter(f, fieldnames=list(keys))
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {k: '' if row[k] is None else row[k]
                 for k in keys})
    return path


def write_lines(lines: Sequence[str], path: str) -> str:
    """``lines`` as a text file, one per line."""
    with _atomic_open(path) as f:
        f.write('\n'.join(lines) + '\n')
    return path


@contextmanager
def _atomic_open(path: str, **kwargs) -> Iterator[TextIO]:
    """A text file opened for writing that appears at ``path`` only once
    fully written (its directory is created if needed)."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    partial = f'{path}.partial'
    try:
        with open(partial, 'w', **kwargs) as f:
            yield f
        os.replace(partial, path)
    finally:
        if osp.exists(partial):
            os.remove(partial)
