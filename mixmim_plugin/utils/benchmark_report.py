"""Writing benchmark results: markdown tables and CSV files."""
import csv
import os
import os.path as osp
from typing import List, Sequence, Tuple

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
    _make_parent(path)
    with open(path, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=list(keys))
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {k: '' if row[k] is None else row[k]
                 for k in keys})
    return path


def write_lines(lines: Sequence[str], path: str) -> str:
    _make_parent(path)
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return path


def _make_parent(path: str) -> None:
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
