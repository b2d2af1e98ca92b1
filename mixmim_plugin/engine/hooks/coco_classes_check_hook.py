"""Check a COCO-format dataset's class set against its annotation file and
the detector's heads before the first iteration.

mmdet's ``CocoDataset`` keeps the annotation categories whose names are in
``metainfo.classes`` and silently drops the rest; a set with other
categories than COCO's 80 therefore loads with no instances, or with heads
of the wrong size, and fails much later (an ``IndexError`` in
``CocoMetric``). This hook names the keys to set instead.
"""
import json
from typing import Iterator, List, Tuple

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mixmim_plugin.registry import HOOKS

HEADS = ('bbox_head', 'mask_head')


class ClassSetError(ValueError):
    """A dataset's classes do not match its annotations or the heads."""


def _categories(ann_file: str) -> List[str]:
    with open(ann_file) as f:
        return [c['name'] for c in json.load(f)['categories']]


def _heads(model) -> Iterator[Tuple[str, int]]:
    """(config key, num_classes) of the detector's class-sized heads."""
    roi_head = getattr(model, 'roi_head', None)
    for name in HEADS:
        head = getattr(roi_head, name, None)
        if head is not None and hasattr(head, 'num_classes'):
            yield f'model.roi_head.{name}.num_classes', head.num_classes


def check_coco_classes(dataset, where: str, model) -> None:
    """Raise :class:`ClassSetError` if a class of ``dataset`` (the config
    key ``where``) is no category of its annotation file, or if a head's
    ``num_classes`` differs from the number of classes."""
    classes = tuple(dataset.metainfo['classes'])
    if len(dataset.cat_ids) != len(classes):
        found = _categories(dataset.ann_file)
        missing = [c for c in classes if c not in found]
        raise ClassSetError(
            f'{where}.metainfo.classes has {len(classes)} classes, '
            f'{len(missing)} of them ({", ".join(missing[:5])}...) are no '
            f'category of {dataset.ann_file}, whose categories are '
            f'{tuple(found)}: set --cfg-options '
            f'"{where}.metainfo.classes=({",".join(found)})" for every '
            'dataloader, and the heads\' num_classes to '
            f'{len(found)} (see README "Your own data")')
    for key, num_classes in _heads(model):
        if num_classes != len(classes):
            raise ClassSetError(
                f'{key} is {num_classes} but {where}.metainfo.classes has '
                f'{len(classes)} classes: set --cfg-options '
                f'{key}={len(classes)}')


@HOOKS.register_module()
class CocoClassesCheckHook(Hook):
    """Run :func:`check_coco_classes` on every COCO-format dataset of the
    loop about to start (train, val or test)."""

    priority = 'VERY_HIGH'

    def _check(self, runner, field: str) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        dataset, where = getattr(runner, field).dataset, f'{field}.dataset'
        while hasattr(dataset, 'dataset'):  # RepeatDataset and the like
            dataset, where = dataset.dataset, f'{where}.dataset'
        if hasattr(dataset, 'cat_ids'):
            check_coco_classes(dataset, where, model)

    def before_train(self, runner) -> None:
        self._check(runner, 'train_dataloader')

    def before_val(self, runner) -> None:
        self._check(runner, 'val_dataloader')

    def before_test(self, runner) -> None:
        self._check(runner, 'test_dataloader')
