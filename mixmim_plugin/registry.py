"""Registries of the ``mixmim_plugin`` scope.

Every registry here is a child of the mmpretrain registry of the same kind, so
a config with ``default_scope='mixmim_plugin'`` sees the plugin's modules and,
through the parent chain, all of mmpretrain's (registered here on import) and
mmengine's.

mmengine resolves a scoped name such as ``'mixmim_plugin.MixMIMEncoder'`` that
is used from another scope (an mmdet or mmseg config) by looking only at the
direct children of the root registry. A child of mmpretrain is a grandchild of
the root, so each plugin registry is also listed among the root's children
(:func:`_expose_to_root`). Its parent stays mmpretrain's registry.
"""
from mmengine.registry import Registry
from mmpretrain import registry as mmpretrain_registry
from mmpretrain.utils import register_all_modules

# A child registry finds its parent's modules only once they are imported:
# register all of mmpretrain (datasets, models, engine, evaluation, ...).
register_all_modules(init_default_scope=False)

__all__ = [
    'DATASETS', 'DATA_SAMPLERS', 'EVALUATORS', 'HOOKS', 'LOOPS', 'METRICS',
    'MODELS', 'MODEL_WRAPPERS', 'OPTIM_WRAPPERS', 'OPTIM_WRAPPER_CONSTRUCTORS',
    'OPTIMIZERS', 'PARAM_SCHEDULERS', 'RUNNERS', 'TRANSFORMS', 'VISBACKENDS',
    'VISUALIZERS', 'WEIGHT_INITIALIZERS', 'SCOPE'
]

SCOPE = 'mixmim_plugin'


def _child(name: str, parent: Registry) -> Registry:
    # Importing the package registers every module, so it is the location.
    registry = Registry(name, parent=parent, scope=SCOPE, locations=[SCOPE])
    _expose_to_root(registry)
    return registry


def _expose_to_root(registry: Registry) -> None:
    """List ``registry`` among the root registry's children under the plugin
    scope, so that ``'mixmim_plugin.<Name>'`` resolves from any scope."""
    root = registry._get_root_registry()
    existing = root._children.get(SCOPE)
    if existing is not None and existing is not registry:
        raise RuntimeError(
            f'the root registry {root.name!r} already has a child with scope '
            f'{SCOPE!r}; is mixmim_plugin.registry imported twice under '
            'different module names?')
    root._children[SCOPE] = registry


RUNNERS = _child('runner', mmpretrain_registry.RUNNERS)
LOOPS = _child('loop', mmpretrain_registry.LOOPS)
HOOKS = _child('hook', mmpretrain_registry.HOOKS)
OPTIMIZERS = _child('optimizer', mmpretrain_registry.OPTIMIZERS)
OPTIM_WRAPPERS = _child('optim_wrapper', mmpretrain_registry.OPTIM_WRAPPERS)
OPTIM_WRAPPER_CONSTRUCTORS = _child(
    'optimizer wrapper constructor',
    mmpretrain_registry.OPTIM_WRAPPER_CONSTRUCTORS)
PARAM_SCHEDULERS = _child('parameter scheduler',
                          mmpretrain_registry.PARAM_SCHEDULERS)

DATASETS = _child('dataset', mmpretrain_registry.DATASETS)
DATA_SAMPLERS = _child('data sampler', mmpretrain_registry.DATA_SAMPLERS)
TRANSFORMS = _child('transform', mmpretrain_registry.TRANSFORMS)

MODELS = _child('model', mmpretrain_registry.MODELS)
MODEL_WRAPPERS = _child('model_wrapper', mmpretrain_registry.MODEL_WRAPPERS)
WEIGHT_INITIALIZERS = _child('weight initializer',
                             mmpretrain_registry.WEIGHT_INITIALIZERS)

METRICS = _child('metric', mmpretrain_registry.METRICS)
EVALUATORS = _child('evaluator', mmpretrain_registry.EVALUATORS)

VISUALIZERS = _child('visualizer', mmpretrain_registry.VISUALIZERS)
VISBACKENDS = _child('vis_backend', mmpretrain_registry.VISBACKENDS)
