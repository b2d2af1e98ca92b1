"""Checked loading of pretrained weights into the plugin's backbones.

Why: mmengine's ``PretrainedInit`` (``init_cfg=dict(type='Pretrained')``)
loads with ``strict=False``, and mmdet's / mmseg's ``SwinTransformer`` load
non-strictly by themselves: a tensor of the wrong shape is only logged, a
missing one is logged or not even that. Key names collide across the
encoders the plugin pretrains (``patch_embed.projection.*`` is in every ViT,
Swin and MixMIM encoder), so a checkpoint of another model, a wrong
``prefix`` or a wrong ``arch`` trains and evaluates a mostly random backbone
after a single ``size mismatch`` warning in a long log.

Each backbone calls :func:`check_pretrained` (or :func:`check_state`) in its
``init_weights`` -- which mmpretrain, mmdet and mmseg all call -- before the
weights are loaded. The checkpoint is read as the load will read it (mmengine's
``CheckpointLoader``, so every checkpoint source and the plugin's safe-loading
rules apply; the same ``prefix`` handling) and compared with the backbone's
state dict, as its :class:`LoadSpec` declares: a shape mismatch, or a missing
tensor that the backbone does not declare fresh, raises
:class:`CheckpointMismatchError`. The weights are then loaded by the unchanged
code (mmengine's, mmdet's, mmseg's, with their resizing hooks and logs); the
price is that the file is read twice.
"""
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import (Dict, Iterable, List, Mapping, Optional, Sequence, Tuple,
                    Union)

from mmengine.logging import print_log
from mmengine.model.weight_init import PretrainedInit
from mmengine.runner.checkpoint import (_load_checkpoint,
                                        _load_checkpoint_with_prefix)
from torch import Tensor, nn

StateDict = Mapping[str, Tensor]
Shape = Tuple[int, ...]
Alias = Tuple[str, str]
InitCfg = Union[dict, Sequence[dict], None]
SHOWN = 5
FIX = (
    "Likely fix: point init_cfg.checkpoint at this model's pretraining "
    '(or backbone-only) checkpoint, give the prefix under which the file '
    "holds the encoder ('backbone.' in the plugin's checkpoints), and build "
    'the backbone with the arch (widths, depths, patch and window sizes) '
    'of the checkpoint.')


class CheckpointMismatchError(ValueError):
    """A pretrained checkpoint does not fit the backbone it initialises."""


@dataclass(frozen=True)
class LoadSpec:
    """Where a backbone may differ from a pretraining checkpoint's encoder;
    ``fnmatch`` patterns of the backbone's state-dict keys.

    Attributes:
        fresh: tensors that a pretraining checkpoint does not hold (e.g. the
            norms of extra dense outputs): left at their initialisation and
            listed in the log.
        resized: tensors the backbone resizes on load (position embeddings,
            relative position bias tables): only their rank and last
            (channel / head) dimension must match.
        derived: buffers the backbone recomputes (relative position
            indices): neither compared nor required, nor counted as unused.
        aliases: ``(old, new)`` key prefixes that the backbone renames on load
            (legacy layouts).
    """
    fresh: Tuple[str, ...] = ()
    resized: Tuple[str, ...] = ()
    derived: Tuple[str, ...] = ()
    aliases: Tuple[Alias, ...] = ()


# mmpretrain's ViT: the norm after ``avg_featmap`` pooling (``ln2``) is not
# in a pretraining checkpoint; ``pos_embed`` is resized to the patch grid
VIT_LOAD_SPEC = LoadSpec(fresh=('ln2.*', ), resized=('pos_embed', ))


def swin_load_spec(out_indices: Iterable[int], num_stages: int) -> LoadSpec:
    """The :class:`LoadSpec` of the Swin layout that mmpretrain's, mmdet's
    and mmseg's ``SwinTransformer`` share: the norms of outputs before the
    last stage are fresh (pretraining uses the last one), the absolute
    position embedding and the bias tables are resized on load, the
    relative position indices are recomputed."""
    last = num_stages - 1
    return LoadSpec(
        fresh=tuple(f'norm{i}.*' for i in out_indices if i != last),
        resized=('absolute_pos_embed', '*.relative_position_bias_table'),
        derived=('*.relative_position_index', ))


def pretrained_cfg(init_cfg: InitCfg) -> Optional[dict]:
    """The ``Pretrained`` entry of an ``init_cfg`` (a dict or a list of
    them), or None."""
    cfgs = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    for cfg in cfgs:
        if isinstance(cfg, dict) and cfg.get('type') in ('Pretrained',
                                                         PretrainedInit):
            return cfg
    return None


def check_pretrained(module: nn.Module, spec: LoadSpec) -> bool:
    """Check the checkpoint of ``module.init_cfg``'s ``Pretrained`` entry
    against ``module`` before ``init_weights`` loads it (with mmengine's
    ``PretrainedInit``).

    Returns:
        Whether there is such an entry (the backbone then skips its random
        initialisation).

    Raises:
        CheckpointMismatchError: see :func:`check_state`.
        KeyError: the checkpoint holds none of the backbone's tensors.
    """
    cfg = pretrained_cfg(module.init_cfg)
    if cfg is None:
        return False
    if not module.is_init:  # a second init_weights loads nothing
        prefix = cfg.get('prefix')
        source = f"{cfg['checkpoint']} (prefix {prefix!r})"
        check_state(module, read_pretrained(cfg), spec, source)
    return True


def read_pretrained(cfg: dict) -> Dict[str, Tensor]:
    """The state dict that ``PretrainedInit`` loads for a ``Pretrained``
    cfg: the keys under ``prefix`` without it, or without a prefix the whole
    ``state_dict`` with a ``module.`` wrapper prefix removed."""
    location = cfg.get('map_location', 'cpu')
    if cfg.get('prefix') is not None:
        return _load_checkpoint_with_prefix(
            cfg['prefix'], cfg['checkpoint'], map_location=location)
    checkpoint = _load_checkpoint(cfg['checkpoint'], map_location=location)
    return without_prefix(checkpoint.get('state_dict', checkpoint), 'module.')


def under_prefix(state: StateDict, prefix: str) -> Dict[str, Tensor]:
    """The entries of ``state`` whose key starts with ``prefix``, without
    it."""
    return {
        k[len(prefix):]: v
        for k, v in state.items() if k.startswith(prefix)
    }


def without_prefix(state: StateDict, prefix: str) -> Dict[str, Tensor]:
    """All entries of ``state``, ``prefix`` removed where a key has it."""
    return {
        (k[len(prefix):] if k.startswith(prefix) else k): v
        for k, v in state.items()
    }


def check_state(module: nn.Module, state: StateDict, spec: LoadSpec,
                source: str) -> None:
    """Compare a checkpoint's (prefix-free) ``state`` with ``module``'s
    state dict; log the fresh tensors and the number of unused ones.

    Args:
        module: the backbone.
        state: the tensors the load will offer it.
        spec: the backbone's :class:`LoadSpec`.
        source: the checkpoint, for the messages.

    Raises:
        CheckpointMismatchError: a tensor's shape does not fit, or a tensor
            that is not fresh is missing; the first of each are named.
        KeyError: the checkpoint holds none of the backbone's tensors.
    """
    owner = type(module).__name__
    own = {
        k: v
        for k, v in module.state_dict().items()
        if not _matches(k, spec.derived)
    }
    state = _renamed(state, spec.aliases)
    if not any(k in state for k in own):
        raise no_weights_error(owner, list(own), list(state), source)
    mismatched = [(k, tuple(state[k].shape), tuple(v.shape))
                  for k, v in own.items()
                  if k in state and not _fits(k, state[k], v, spec)]
    absent = [k for k in own if k not in state]
    missing = [k for k in absent if not _matches(k, spec.fresh)]
    if mismatched or missing:
        raise CheckpointMismatchError(
            _mismatch_message(owner, source, mismatched, missing, own))
    fresh = [k for k in absent if k not in missing]
    if fresh:
        print_log(
            f'load into {owner}: fresh (not in a pretraining checkpoint): '
            f'{", ".join(fresh)}', 'current')
    unused = [
        k for k in state if k not in own and not _matches(k, spec.derived)
    ]
    if unused:
        print_log(
            f'load into {owner}: {len(unused)} unused checkpoint tensor(s) in '
            f'{source}: {_first(unused)}', 'current')


def no_weights_error(owner: str,
                     own: Sequence[str],
                     found: Iterable[str],
                     source: Optional[str] = None) -> KeyError:
    """The error for a checkpoint that holds none of a backbone's tensors
    (a wrong prefix or another model)."""
    sample = ', '.join(sorted(found)[:3]) or 'nothing'
    where = f'{source}: ' if source else ''
    return KeyError(f"{where}the checkpoint holds none of {owner}'s weights "
                    f'(expected keys like {own[0]!r}, found {sample}): '
                    'wrong prefix or wrong model?')


def _matches(key: str, patterns: Sequence[str]) -> bool:
    return any(fnmatchcase(key, p) for p in patterns)


def _renamed(state: StateDict, aliases: Sequence[Alias]) -> StateDict:
    """``state`` with the legacy key prefixes renamed."""
    for old, new in aliases:
        state = {
            (new + k[len(old):] if k.startswith(old) else k): v
            for k, v in state.items()
        }
    return state


def _fits(key: str, tensor: Tensor, own: Tensor, spec: LoadSpec) -> bool:
    """Same shape, or a resized tensor of the same rank and channels."""
    if tensor.shape == own.shape:
        return True
    return (_matches(key, spec.resized) and tensor.dim() == own.dim()
            and tensor.shape[-1:] == own.shape[-1:])


def _mismatch_message(owner: str, source: str,
                      mismatched: List[Tuple[str, Shape, Shape]],
                      missing: List[str], own: StateDict) -> str:
    lines = [f'{source} does not fit {owner}:']
    if mismatched:
        shapes = [f'{k}: checkpoint {c}, model {m}' for k, c, m in mismatched]
        lines.append(f'{len(mismatched)} size mismatch(es): {_first(shapes)}')
    if missing:
        shapes = [f'{k} {tuple(own[k].shape)}' for k in missing]
        lines.append(f'{len(missing)} missing encoder tensor(s) (not '
                     f'fresh): {_first(shapes)}')
    return '\n'.join(lines + [FIX])


def _first(items: Sequence[str]) -> str:
    """The first :data:`SHOWN` items, and how many more there are."""
    more = f' (+{len(items) - SHOWN} more)' if len(items) > SHOWN else ''
    return '; '.join(items[:SHOWN]) + more
