"""Configs as the tools read them: loading (a file or an installed
package's ``<package>::<path>``), the registry scope, the model (built as
mmengine's Runner builds it) and the train pipeline."""
import importlib.util
import os.path as osp
from typing import List, Optional

from mmengine.config import Config
from mmengine.hub import get_config
from mmengine.registry import MODELS, DefaultScope
from torch import nn

import mixmim_plugin  # registers the plugin scope

DEFAULT_SCOPE = 'mixmim_plugin'
# what the benchmarks take a config that sets no default_scope for (they
# read configs of any installed package)
MMPRETRAIN_SCOPE = 'mmpretrain'


def load_config(path: str) -> Config:
    """A config from a file path or ``<package>::<relative path>`` (the
    package must be installed: nothing is downloaded)."""
    if '::' in path:
        package = path.split('::', 1)[0]
        if importlib.util.find_spec(package) is None:
            raise FileNotFoundError(f'package {package!r} is not installed')
        return get_config(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'no such config file: {path}')
    return Config.fromfile(path)


def plugin_config(path: str) -> str:
    """The file of one of the plugin's configs, by its path under
    ``configs/``: in the checkout that ``mixmim_plugin`` is imported from,
    else in the copy installed with it (``mixmim_plugin/.mim/configs``)."""
    package = osp.dirname(osp.realpath(mixmim_plugin.__file__))
    for root in (osp.dirname(package), osp.join(package, '.mim')):
        found = osp.join(root, 'configs', path)
        if osp.isfile(found):
            return found
    raise FileNotFoundError(f'configs/{path} is neither beside {package} nor '
                            'in its .mim folder')


def config_label(path: str) -> str:
    """A short name: the file name without ``.py``, prefixed by the package
    for ``<package>::`` configs."""
    stem = osp.splitext(osp.basename(path.split('::')[-1]))[0]
    return f'{path.split("::")[0]}:{stem}' if '::' in path else stem


def config_scope(cfg: Config, default: str = DEFAULT_SCOPE) -> str:
    """The config's ``default_scope``, or ``default`` where it sets none."""
    return cfg.get('default_scope') or default


def in_config_scope(cfg: Config, default: str = DEFAULT_SCOPE):
    """A context in which registries build in :func:`config_scope`."""
    return DefaultScope.overwrite_default_scope(config_scope(cfg, default))


def build_model(cfg: Config, default_scope: str = DEFAULT_SCOPE) -> nn.Module:
    """``cfg.model`` built in the config's scope as mmengine's Runner builds
    it (a top-level ``data_preprocessor`` is the model's); its weights are
    not initialised."""
    model_cfg = cfg.model.copy()
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    with in_config_scope(cfg, default_scope):
        return MODELS.build(model_cfg)


def strip_pretrained(node, path: str = 'model') -> List[str]:
    """Remove, in place, every ``init_cfg`` of type ``Pretrained`` and every
    ``pretrained`` checkpoint string under a model config; returns the
    dotted paths removed."""
    removed = []
    if isinstance(node, (list, tuple)):
        for i, item in enumerate(node):
            removed += strip_pretrained(item, f'{path}[{i}]')
        return removed
    if not isinstance(node, dict):
        return removed
    for key, value in list(node.items()):
        where = f'{path}.{key}'
        if key == 'init_cfg' and _is_pretrained(value):
            node[key] = None
            removed.append(where)
        elif key == 'init_cfg' and isinstance(value, (list, tuple)) and any(
                _is_pretrained(v) for v in value):
            node[key] = [v for v in value if not _is_pretrained(v)]
            removed.append(where)
        elif key == 'pretrained' and isinstance(value, str):
            node[key] = None
            removed.append(where)
        else:
            removed += strip_pretrained(value, where)
    return removed


def _is_pretrained(init_cfg) -> bool:
    return isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained'


def train_pipeline(cfg: Config) -> list:
    """The train dataset's pipeline (looking through dataset wrappers)."""
    dataset = cfg.get('train_dataloader', {}).get('dataset')
    while isinstance(dataset, dict):
        if 'pipeline' in dataset:
            return dataset['pipeline']
        dataset = dataset.get('dataset')
    raise KeyError('the config has no train_dataloader.dataset.pipeline')


def crop_size(node) -> Optional[int]:
    """The first integer ``scale`` or ``crop_size`` in a pipeline (searched
    depth first through nested transforms), or None."""
    if isinstance(node, (list, tuple)):
        for item in node:
            found = crop_size(item)
            if found is not None:
                return found
    elif isinstance(node, dict):
        for key in ('scale', 'crop_size'):
            if isinstance(node.get(key), int):
                return node[key]
        return crop_size(list(node.values()))
    return None
