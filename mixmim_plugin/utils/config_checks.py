"""Checks run on a config before the Runner is built, so that a missing
dataset path fails at once with the config field that names it, instead of
deep inside a dataloader worker."""
import os.path as osp
from typing import Iterator, Sequence, Tuple

from mmengine.config import Config

DATALOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def iter_datasets(cfg: dict, where: str) -> Iterator[Tuple[str, dict]]:
    """Yield (config path, dataset cfg), looking through dataset wrappers
    (RepeatDataset, ClassBalancedDataset, ConcatDataset, ...)."""
    if not isinstance(cfg, dict):
        return
    inner = cfg.get('dataset')
    inners = cfg.get('datasets')
    if isinstance(inner, dict):
        yield from iter_datasets(inner, f'{where}.dataset')
    if isinstance(inners, (list, tuple)):
        for i, item in enumerate(inners):
            yield from iter_datasets(item, f'{where}.datasets.{i}')
    if inner is None and inners is None:
        yield where, cfg


def _is_remote(path: str) -> bool:
    return '://' in path


def _join(root: str, path: str) -> str:
    return path if not root or osp.isabs(path) else osp.join(root, path)


def check_dataset_paths(cfg: Config,
                        fields: Sequence[str] = DATALOADERS) -> None:
    """Raise FileNotFoundError naming the first dataset path (``data_root``,
    ``ann_file`` or a ``data_prefix`` entry) of ``cfg`` that does not exist.
    """
    for field in fields:
        loader = cfg.get(field, None)
        if not loader:
            continue
        for where, dataset in iter_datasets(
                loader.get('dataset'), f'{field}.dataset'):
            root = dataset.get('data_root') or ''
            if root and not _is_remote(root) and not osp.isdir(root):
                raise FileNotFoundError(
                    f'{where}.data_root: directory not found: {root!r} '
                    f'(type={dataset.get("type")}). Point it at the dataset, '
                    'e.g. --cfg-options '
                    f'{where}.data_root=/path/to/data')
            ann = dataset.get('ann_file') or ''
            if ann and not _is_remote(ann) and not osp.exists(
                    _join(root, ann)):
                raise FileNotFoundError(f'{where}.ann_file: file not found: '
                                        f'{_join(root, ann)!r}')
            if ann.endswith('.txt') and not _is_remote(ann):
                check_image_list(_join(root, ann), f'{where}.ann_file')
            prefix = dataset.get('data_prefix') or {}
            if isinstance(prefix, str):
                prefix = dict(img_path=prefix)
            for key, sub in prefix.items():
                if not isinstance(sub, str) or not sub or _is_remote(sub):
                    continue
                path = _join(root, sub)
                if not osp.isdir(path):
                    raise FileNotFoundError(
                        f'{where}.data_prefix.{key}: directory not found: '
                        f'{path!r}')


def check_image_list(path: str, where: str) -> None:
    """An mmpretrain image list (``<image path> [<integer label>]`` per
    line): raise ValueError naming the file and line of a label that is not
    an integer (mmpretrain's own message names neither)."""
    with open(path) as f:
        for number, line in enumerate(f, 1):
            parts = line.strip().rsplit(' ', 1)
            if len(parts) == 2 and not parts[1].lstrip('-').isdigit():
                raise ValueError(
                    f'{path}, line {number} ({where}): the label '
                    f'{parts[1]!r} of {parts[0]!r} is not an integer class '
                    'index')
