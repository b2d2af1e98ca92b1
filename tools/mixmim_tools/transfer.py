"""Transfer configs and the pretraining runs that feed them: which task a
config trains, which pretraining config its ``Pretrained`` checkpoint comes
from, and the overrides that point it at other data and another checkpoint
(the keys of the README's "Your own data").

Used by the learning-signal tool's transfer protocols and by the run matrix
of the tests, so that both start a transfer config the same way.
"""
import glob
import json
import os.path as osp
import re
from typing import Dict, Iterator, Optional, Tuple

from mmengine.config import Config

from mixmim_plugin.utils.config_checks import iter_datasets
from .configs import plugin_config

DATALOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
# the embedded dataset (mixmim_tools.data.embedded) of each task
DATA_KIND = {
    'pretrain': 'imagenet',
    'cls': 'imagenet',
    'det': 'coco',
    'seg': 'ade'
}
# a transfer config's checkpoint: work_dirs/<pretraining config>/<file>.pth;
# <file> ending in _swin.pth is the moby2swin.py conversion of the run's
CHECKPOINT = re.compile(r'work_dirs/([^/]+)/([^/]+\.pth)')
SWIN_SUFFIX = '_swin.pth'


def task(cfg: Config) -> str:
    """``'pretrain'``, ``'cls'``, ``'det'`` or ``'seg'``: mmdet's and
    mmseg's configs by their scope, a plugin config with an evaluator is a
    classification one."""
    scope = cfg.get('default_scope', 'mixmim_plugin')
    if scope != 'mixmim_plugin':
        return {'mmdet': 'det', 'mmseg': 'seg'}[scope]
    return 'cls' if cfg.get('val_evaluator') else 'pretrain'


def config_root() -> str:
    """The plugin's ``configs/`` folder (checkout or installed copy)."""
    return osp.dirname(osp.dirname(plugin_config('_base_/default_runtime.py')))


def pretraining_source(cfg: Config) -> Optional[Tuple[str, bool]]:
    """(pretraining config file, needs moby2swin) named by a transfer
    config's ``Pretrained`` backbone checkpoint ``work_dirs/<config>/
    <file>.pth``; None without one. A checkpoint path that names no plugin
    config is a ``ValueError``."""
    init = cfg.model.get('backbone', {}).get('init_cfg', None)
    if not isinstance(init, dict) or init.get('type') != 'Pretrained':
        return None
    path = init.get('checkpoint') or ''
    match = CHECKPOINT.fullmatch(path)
    found = glob.glob(
        osp.join(config_root(), '**', f'{match.group(1)}.py'),
        recursive=True) if match else []
    if len(found) != 1:
        raise ValueError(
            f'pretrained checkpoint {path!r} does not name one pretraining '
            'config: write it as work_dirs/<config name>/<file>.pth')
    return found[0], path.endswith(SWIN_SUFFIX)


def coco_classes(root: str) -> Tuple[str, ...]:
    """Category names of a COCO-format set, in id order."""
    with open(osp.join(root, 'annotations', 'instances_train2017.json')) as f:
        categories = json.load(f)['categories']
    return tuple(c['name'] for c in sorted(categories, key=lambda c: c['id']))


def datasets(cfg: Config) -> Iterator[Tuple[str, str, dict]]:
    """(dataloader field, config path, dataset cfg) of every dataset."""
    for field in DATALOADERS:
        loader = cfg.get(field, None)
        if loader:
            for where, dataset in iter_datasets(
                    loader.get('dataset'), f'{field}.dataset'):
                yield field, where, dataset


def data_overrides(cfg: Config,
                   roots: Dict[str, str],
                   checkpoint: Optional[str] = None) -> Dict[str, object]:
    """Dotted config keys -> values that put ``cfg`` on the dataset of its
    task in ``roots`` (``{'imagenet', 'coco', 'ade'}``) and, if given, start
    its backbone from ``checkpoint``: every dataset's ``data_root``; for
    detection the class set and the two heads' ``num_classes`` (a COCO set
    with other categories) and the evaluators' ``ann_file``."""
    kind = task(cfg)
    root = roots[DATA_KIND[kind]]
    overrides: Dict[str, object] = {}
    for _, where, _ in datasets(cfg):
        overrides[f'{where}.data_root'] = root
        if kind == 'det':
            overrides[f'{where}.metainfo.classes'] = coco_classes(root)
    if kind == 'det':
        count = len(coco_classes(root))
        overrides['model.roi_head.bbox_head.num_classes'] = count
        overrides['model.roi_head.mask_head.num_classes'] = count
        for split in ('val', 'test'):
            if (cfg.get(f'{split}_evaluator', None) or {}).get('ann_file'):
                overrides[f'{split}_evaluator.ann_file'] = osp.join(
                    root, 'annotations', 'instances_val2017.json')
    if checkpoint is not None:
        overrides['model.backbone.init_cfg.checkpoint'] = checkpoint
    return overrides
