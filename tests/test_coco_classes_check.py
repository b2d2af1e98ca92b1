"""CocoClassesCheckHook: a COCO-format set with other categories than the
config's classes, or heads of another size, fails before the first
iteration with the keys to set."""
from types import SimpleNamespace

import pytest
from mmdet.datasets import CocoDataset

from mixmim_plugin.engine.hooks import CocoClassesCheckHook
from mixmim_plugin.engine.hooks.coco_classes_check_hook import (
    ClassSetError, check_coco_classes)

EMBEDDED = ('circle', 'square', 'triangle', 'star')


def coco(root, classes=None):
    return CocoDataset(
        data_root=root,
        ann_file='annotations/instances_val2017.json',
        data_prefix=dict(img='val2017/'),
        metainfo=None if classes is None else dict(classes=classes),
        pipeline=[])


def detector(num_bbox, num_mask):
    heads = SimpleNamespace(
        bbox_head=SimpleNamespace(num_classes=num_bbox),
        mask_head=SimpleNamespace(num_classes=num_mask))
    return SimpleNamespace(roi_head=heads)


def test_coco_80_classes_on_other_categories(embedded_data):
    dataset = coco(embedded_data['coco'])  # mmdet's default: COCO's 80
    assert dataset.cat_ids == []  # mmdet drops every annotation silently
    with pytest.raises(ClassSetError) as error:
        check_coco_classes(dataset, 'val_dataloader.dataset', detector(80, 80))
    message = str(error.value)
    assert 'val_dataloader.dataset.metainfo.classes has 80 classes' in message
    assert '"val_dataloader.dataset.metainfo.classes=(circle,square,' \
        'triangle,star)"' in message
    assert 'instances_val2017.json' in message


def test_heads_must_match_the_classes(embedded_data):
    dataset = coco(embedded_data['coco'], EMBEDDED)
    check_coco_classes(dataset, 'val_dataloader.dataset', detector(4, 4))
    with pytest.raises(
            ClassSetError,
            match=r'model.roi_head.mask_head.num_classes is 80 but .* 4 '
            r'classes: set --cfg-options '
            r'model.roi_head.mask_head.num_classes=4'):
        check_coco_classes(dataset, 'val_dataloader.dataset', detector(4, 80))


def test_hook_looks_through_dataset_wrappers(embedded_data):
    dataset = coco(embedded_data['coco'])
    wrapped = SimpleNamespace(dataset=dataset)  # a RepeatDataset
    runner = SimpleNamespace(
        model=detector(80, 80),
        train_dataloader=SimpleNamespace(dataset=wrapped))
    with pytest.raises(
            ClassSetError,
            match='train_dataloader.dataset.dataset.metainfo.classes'):
        CocoClassesCheckHook().before_train(runner)
