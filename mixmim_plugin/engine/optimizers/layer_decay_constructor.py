"""Layer-wise learning-rate decay for any model whose backbone knows its
layer depths: mmpretrain classifiers, mmdet detectors, mmseg segmentors.

What the toolboxes offer, and why it does not serve every scope:

* mmpretrain's ``LearningRateDecayOptimWrapperConstructor`` asks the whole
  model for ``get_layer_depth``: mmpretrain's classifiers have it (they
  delegate to the backbone), mmdet's detectors and mmseg's segmentors do
  not (``NotImplementedError``).
* mmdet's ``LearningRateDecayOptimizerConstructor`` knows ConvNeXt only;
  mmseg's ``LearningRateDecayOptimizerConstructor`` /
  ``LayerDecayOptimizerConstructor`` know ConvNeXt, BEiT and mmseg's MAE by
  their class names and parameter names.

:class:`BackboneLayerDecayOptimWrapperConstructor` extends mmpretrain's: it
asks ``model.backbone.get_layer_depth(name, 'backbone.')`` (the
:class:`~mixmim_plugin.models.MixMIMEncoder` hierarchy, mmpretrain's ViT,
Swin, ...), so the same config works from every scope.
"""
from typing import Callable, List, Optional, Tuple

from mmpretrain.engine.optimizers import \
    LearningRateDecayOptimWrapperConstructor
from torch import nn

from mixmim_plugin.registry import OPTIM_WRAPPER_CONSTRUCTORS

BACKBONE = 'backbone.'
DepthFn = Callable[[str], Tuple[int, int]]


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class BackboneLayerDecayOptimWrapperConstructor(
        LearningRateDecayOptimWrapperConstructor):
    """mmpretrain's layer-decay constructor with the depths of the backbone.

    A parameter of the backbone gets ``lr * layer_decay_rate ** (L - 1 -
    depth)``, with ``(depth, L)`` from the backbone's
    ``get_layer_depth(name, 'backbone.')``; every other parameter (necks,
    heads, decode heads, the RPN and RoI heads) gets the full learning
    rate, as the top layer. ``paramwise_cfg`` takes mmpretrain's keys:
    ``layer_decay_rate``, ``bias_decay_mult``, ``norm_decay_mult``,
    ``flat_decay_mult`` and ``custom_keys`` (``decay_mult`` only).

    Example (an mmdet or mmseg config)::

        optim_wrapper = dict(
            optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05),
            constructor=
            'mixmim_plugin.BackboneLayerDecayOptimWrapperConstructor',
            paramwise_cfg=dict(layer_decay_rate=0.8, flat_decay_mult=0.))
    """

    def add_params(self,
                   params: List[dict],
                   module: nn.Module,
                   prefix: str = '',
                   get_layer_depth: Optional[DepthFn] = None,
                   **kwargs) -> None:
        """Add the parameters of ``module`` (the whole model at the top
        call) to ``params``, one group per parameter with its ``lr``,
        ``lr_scale`` and ``layer_id``."""
        if get_layer_depth is None:
            get_layer_depth = backbone_layer_depth(module)
        super().add_params(
            params,
            module,
            prefix=prefix,
            get_layer_depth=get_layer_depth,
            **kwargs)


def backbone_layer_depth(model: nn.Module) -> DepthFn:
    """``name -> (depth, num_depths)`` for the parameters of ``model`` from
    its backbone's ``get_layer_depth``; outside the backbone, the top depth
    ``num_depths - 1``."""
    backbone = getattr(model, 'backbone', None)
    if backbone is None or not callable(
            getattr(backbone, 'get_layer_depth', None)):
        kind = type(backbone).__name__ if backbone is not None else 'none'
        raise TypeError(
            f'layer-wise lr decay needs a model whose backbone has '
            f'get_layer_depth(param_name, prefix); {type(model).__name__} '
            f'has backbone {kind}')

    def depth(name: str) -> Tuple[int, int]:
        layer, num = backbone.get_layer_depth(name, BACKBONE)
        return (layer, num) if name.startswith(BACKBONE) else (num - 1, num)

    return depth
