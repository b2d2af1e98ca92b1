"""Plugin pretraining checkpoints -> backbone-only checkpoints for
fine-tuning, detection and segmentation.

The transfer configs (``configs/*/benchmarks``) load the encoder with
``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')``:
mmengine keeps the keys under ``backbone.`` and strips that prefix (mmdet's
and mmseg's ``SwinTransformer`` strip it themselves). So a backbone-only
checkpoint KEEPS the ``backbone.`` prefix: the same file then works there,
with mmpretrain's ``prefix='backbone.'`` and with mmdet's / mmseg's Swin.

What is removed: the decoders, heads, MoBY's projector, predictor, target
branch and queues, and the encoder parameters that only pretraining uses
(:data:`PRETRAIN_ONLY`: DropPos's mask-position and mask tokens, the
mix-embedding vectors of MixMIM's mix-embed variant).
"""
from collections import OrderedDict
from typing import List, NamedTuple, Optional

from torch import nn

from .rules import LayoutError, StateDict, add_prefix, strip_prefix, unwrap

PREFIX = 'backbone.'
BRANCH_PREFIXES = {'online': PREFIX, 'target': 'target.module.0.'}
# encoder parameters used only by a pretraining forward
PRETRAIN_ONLY = ('mask_token', 'mask_pos_token', 'mix_embeds')


def to_backbone(checkpoint: dict, branch: str = 'online') -> StateDict:
    """The encoder of a plugin pretraining checkpoint as ``backbone.*``.

    Args:
        checkpoint: a plugin checkpoint (MixMIM, DropPos, MAE, MoBY) or its
            state dict.
        branch: ``'online'`` (``backbone.*``, every method) or ``'target'``
            (MoBY's momentum encoder, ``target.module.0.*``).

    Raises:
        LayoutError: the checkpoint has no such encoder.
    """
    if branch not in BRANCH_PREFIXES:
        raise ValueError(f'branch must be one of {sorted(BRANCH_PREFIXES)}, '
                         f'got {branch!r}')
    state = unwrap(checkpoint)
    prefix = BRANCH_PREFIXES[branch]
    encoder = strip_prefix(state, prefix)
    if not encoder:
        what = ('a MoBY target encoder'
                if branch == 'target' else 'an encoder')
        raise LayoutError(
            f'no {prefix}* keys, so no {what}: not a plugin pretraining '
            f'checkpoint? Its keys start with: {sorted(state)[:4]}')
    return add_prefix(
        PREFIX,
        OrderedDict((k, v) for k, v in encoder.items()
                    if k.split('.')[0] not in PRETRAIN_ONLY))


class LoadReport(NamedTuple):
    """How a backbone-only state dict fits a backbone."""
    loaded: List[str]  # backbone keys taken from the checkpoint
    missing: List[str]  # backbone keys left at their initialisation
    unexpected: List[str]  # checkpoint keys the backbone ignores


def check_backbone(state: StateDict,
                   backbone: nn.Module,
                   prefix: str = PREFIX) -> LoadReport:
    """Load ``state`` into ``backbone`` as ``init_cfg=dict(type=
    'Pretrained', prefix=prefix)`` does (keys under ``prefix``, non-strict)
    and report what was loaded, missing and ignored.

    Raises:
        LayoutError: a tensor's shape does not fit, or nothing loads.
    """
    sub = strip_prefix(state, prefix)
    try:
        result = backbone.load_state_dict(sub, strict=False)
    except (RuntimeError, ValueError, KeyError) as err:
        raise LayoutError(f'the checkpoint does not fit '
                          f'{type(backbone).__name__}: {err}') from None
    missing = sorted(result.missing_keys)
    own = backbone.state_dict()
    loaded = sorted(k for k in own if k not in missing)
    if not loaded:
        raise LayoutError(
            f'none of {type(backbone).__name__}\'s weights is in the '
            f'checkpoint (it has {sorted(sub)[:4]} under {prefix!r})')
    return LoadReport(loaded, missing, sorted(result.unexpected_keys))


def backbone_from_config(config, scope: Optional[str] = None) -> nn.Module:
    """Build ``model.backbone`` of a (downstream) config, without its
    ``init_cfg``, in the config's default scope.

    Args:
        config: an mmengine ``Config`` or a config file path.
        scope: the registry scope; the config's ``default_scope`` when
            None (``'mixmim_plugin'`` when it sets none).
    """
    from mmengine.config import Config
    from mmengine.registry import MODELS, DefaultScope

    import mixmim_plugin  # noqa: F401  (registers the plugin scope)
    cfg = config if isinstance(config, Config) else Config.fromfile(config)
    backbone_cfg = cfg.model.get('backbone')
    if backbone_cfg is None:
        raise KeyError('the config has no model.backbone')
    backbone_cfg = backbone_cfg.copy()
    backbone_cfg.pop('init_cfg', None)
    scope = scope or cfg.get('default_scope') or 'mixmim_plugin'
    with DefaultScope.overwrite_default_scope(scope):
        return MODELS.build(backbone_cfg)
