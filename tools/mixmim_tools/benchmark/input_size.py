"""Changing the training resolution of a config (``--img-size`` of
``tools/analysis_tools/benchmark_models.py``)."""
import inspect
from typing import Sequence

from mmengine.config import Config
from mmengine.registry import MODELS

from ..configs import MMPRETRAIN_SCOPE, config_scope, crop_size, train_pipeline

SIZE_KEYS = ('img_size', 'input_size', 'scale', 'crop_size')


def set_input_size(cfg: Config, size: int) -> int:
    """Change the training resolution of a config in place; returns the
    config's own.

    The crop size is the ``scale`` or ``crop_size`` of the first train
    transform that has an integer one. Every ``img_size``, ``input_size``,
    ``scale`` or ``crop_size`` equal to it in the model and the pipeline
    becomes ``size``, and every ``num_patches`` is scaled by the area ratio.
    Where the backbone, neck or head leaves ``img_size`` or
    ``num_patches`` to its constructor's default, the default is replaced
    the same way; the plugin's necks and heads are left alone there, since
    the plugin's pretrainers derive their sizes from the backbone. Other
    size-dependent settings (window sizes, position grids) are left alone:
    a model they do not fit fails to build or run, which is reported.
    """
    pipeline = train_pipeline(cfg)
    old = crop_size(pipeline)
    if old is None:
        raise ValueError('no crop size (an integer scale or crop_size) in the '
                         'train pipeline to change')
    for part in ('backbone', 'neck', 'head'):
        if isinstance(cfg.model.get(part), dict):
            _spell_out_defaults(cfg, cfg.model[part],
                                ('img_size', 'num_patches'))
    _resize_node(cfg.model, old, size)
    _resize_node(pipeline, old, size)
    return old


def _spell_out_defaults(cfg: Config, module: dict,
                        keys: Sequence[str]) -> None:
    """Write into ``module`` the constructor defaults of those ``keys`` it
    leaves out (nothing for a type that is not registered)."""
    scope = config_scope(cfg, MMPRETRAIN_SCOPE)
    with MODELS.switch_scope_and_registry(scope) as registry:
        cls = registry.get(module.get('type', ''))
    if cls is None or (cls.__module__.startswith('mixmim_plugin.')
                       and 'backbone' not in cls.__module__):
        return
    params = inspect.signature(cls.__init__).parameters
    for key in keys:
        default = params[key].default if key in params else None
        if key not in module and isinstance(default, int):
            module[key] = default


def _resize_node(node, old: int, new: int) -> None:
    if isinstance(node, (list, tuple)):
        for item in node:
            _resize_node(item, old, new)
        return
    if not isinstance(node, dict):
        return
    for key, value in list(node.items()):
        if key in SIZE_KEYS and value == old:
            node[key] = new
        elif key == 'num_patches' and isinstance(value, int):
            scaled = value * new * new / (old * old)
            if scaled != int(scaled):
                raise ValueError(f'num_patches={value} at {old} pixels does '
                                 f'not scale to {new} pixels')
            node[key] = int(scaled)
        else:
            _resize_node(value, old, new)
