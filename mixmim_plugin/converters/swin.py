"""MoBY (and plain Swin) checkpoints -> the Swin layout of mmdet, mmseg and
mmpretrain.

mmdet's, mmseg's and mmpretrain's ``SwinTransformer`` share one state-dict
layout (``patch_embed.projection``, ``stages.i.blocks.j.attn.w_msa``,
``ffn.layers``, mmcv's unfold-ordered ``downsample``, one ``norm{i}`` per
output): a state dict loads into each of them strictly and, wherever a
stage map is larger than the window, computes the same features. The
sources differ:

* plugin MoBY (:class:`~mixmim_plugin.models.MoBY`): the online encoder is
  ``backbone.*`` (mmpretrain's Swin, already this layout), the target
  encoder ``target.module.0.*``; the projector, predictor and queues are
  dropped.
* authors' MoBY (Swin-Transformer-SSL, under ``'model'``): the online
  encoder is ``encoder.*``, the target ``encoder_k.*``, both in the official
  Swin layout (``patch_embed.proj``, ``layers.i.blocks.j.attn``,
  ``mlp.fc1``, timm-ordered ``downsample``, a final ``norm``).
* an official Swin checkpoint (no prefix), as the online branch.

The official layout is renamed by mmdet's own ``swin_converter`` (which
also reorders the patch merging); the final ``norm`` becomes the last
stage's ``norm{i}``, the ``attn_mask`` buffers are dropped. The result is
checked by loading it strictly into an mmdet ``SwinTransformer`` of the
inferred architecture (missing ``relative_position_index`` buffers are
filled from it), so a converted checkpoint is complete by construction.
"""
import re
from collections import OrderedDict
from typing import List, Optional, Tuple

from .rules import LayoutError, StateDict, add_prefix, strip_prefix, unwrap

BRANCHES = ('online', 'target')
# (plugin prefix, authors' prefix) of each MoBY branch
_BRANCH_PREFIXES = {
    'online': ('backbone.', 'encoder.'),
    'target': ('target.module.0.', 'encoder_k.'),
}
_OFFICIAL_KEY = 'patch_embed.proj.weight'
_MMCV_KEY = 'patch_embed.projection.weight'
OUT_PREFIX = 'backbone.'


def moby_to_swin(checkpoint: dict, branch: str = 'online') -> StateDict:
    """The Swin encoder of a MoBY checkpoint, as ``backbone.*`` in the
    layout of mmdet's / mmseg's / mmpretrain's ``SwinTransformer``.

    Args:
        checkpoint: a checkpoint's content (plugin MoBY, authors' MoBY or an
            official Swin state dict, optionally under ``state_dict`` /
            ``model``).
        branch: ``'online'`` (the encoder that was trained by gradient) or
            ``'target'`` (its momentum average).

    Raises:
        LayoutError: an unknown layout, a missing branch, a Swin with
            BatchNorm before the MLP, or a result that does not load
            strictly into mmdet's ``SwinTransformer``.
    """
    if branch not in BRANCHES:
        raise ValueError(f'branch must be one of {BRANCHES}, got {branch!r}')
    encoder = _select_branch(unwrap(checkpoint), branch)
    if _OFFICIAL_KEY in encoder:
        encoder = official_to_mmcv(encoder)
    elif _MMCV_KEY not in encoder:
        raise LayoutError(
            f'the {branch} encoder is not a Swin Transformer: no patch '
            f'embedding among {sorted(encoder)[:4]}')
    _reject_unsupported(encoder)
    encoder = OrderedDict(
        (k, v) for k, v in encoder.items() if not k.endswith('attn_mask'))
    return add_prefix(OUT_PREFIX, complete_and_check(encoder))


def _select_branch(state: StateDict, branch: str) -> StateDict:
    """The keys of one branch with its prefix removed."""
    for prefix in _BRANCH_PREFIXES[branch]:
        if prefix + _MMCV_KEY in state or prefix + _OFFICIAL_KEY in state:
            return strip_prefix(state, prefix)
    if branch == 'online' and (_MMCV_KEY in state or _OFFICIAL_KEY in state):
        return OrderedDict(state)
    expected = ' or '.join(f'{p}{_MMCV_KEY}' for p in _BRANCH_PREFIXES[branch])
    raise LayoutError(
        f'no {branch} Swin encoder in the checkpoint (expected keys like '
        f'{expected}); its keys start with: {sorted(state)[:4]}')


def official_to_mmcv(state: StateDict) -> StateDict:
    """Official (Microsoft / MoBY authors') Swin keys -> mmcv Swin keys,
    without prefix; the classifier head is dropped."""
    from mmdet.models.backbones.swin import swin_converter
    converted = swin_converter(state)
    last = max(
        int(m.group(1))
        for m in map(re.compile(r'^layers\.(\d+)\.').match, state) if m)
    out = OrderedDict()
    for key, value in converted.items():
        key = key[len(OUT_PREFIX):]
        if key.startswith('norm.'):
            key = f'norm{last}.' + key[len('norm.'):]
        out[key] = value
    return out


def mlp_batchnorm(state: StateDict) -> Optional[str]:
    """The first key of a BatchNorm before the MLP of a Swin block
    (``MoBYSwinTransformer`` with ``norm_before_mlp='bn'``), or None."""
    return next((k for k in state if '.norm2.bn.' in k), None)


def _reject_unsupported(state: StateDict) -> None:
    bn = mlp_batchnorm(state)
    if bn:
        raise LayoutError(
            f'the encoder has BatchNorm before the MLP ({bn}, '
            "MoBYSwinTransformer with norm_before_mlp='bn'); mmdet's and "
            "mmseg's SwinTransformer have LayerNorm there")
    if 'absolute_pos_embed' in state:
        raise LayoutError('a Swin with an absolute position embedding is '
                          'not supported (MoBY trains without one)')


# --------------------------------------------------------------- checking
def swin_arch(state: StateDict) -> dict:
    """mmdet/mmseg ``SwinTransformer`` arguments of an mmcv-layout Swin
    state dict (no prefix)."""
    proj = state[_MMCV_KEY]  # (C, in_channels, p, p)
    depths: List[int] = []
    heads: List[int] = []
    while f'stages.{len(depths)}.blocks.0.norm1.weight' in state:
        i = len(depths)
        depths.append(
            len({
                k.split('.')[3]
                for k in state if k.startswith(f'stages.{i}.blocks.')
            }))
        table = state[f'stages.{i}.blocks.0.attn.w_msa.'
                      'relative_position_bias_table']
        heads.append(table.shape[1])
    if not depths:
        raise LayoutError(
            'the encoder is not a Swin Transformer in the mmcv layout: no '
            f'stages.0 blocks; its keys start with {sorted(state)[:4]}')
    window = (int(round(table.shape[0]**.5)) + 1) // 2
    hidden = state['stages.0.blocks.0.ffn.layers.0.0.weight'].shape[0]
    if hidden % proj.shape[0]:
        raise LayoutError(f'MLP width {hidden} is not a multiple of '
                          f'embed_dims {proj.shape[0]}')
    return dict(
        in_channels=proj.shape[1],
        embed_dims=proj.shape[0],
        patch_size=proj.shape[2],
        strides=(proj.shape[2], ) + (2, ) * (len(depths) - 1),
        window_size=window,
        mlp_ratio=hidden // proj.shape[0],
        depths=tuple(depths),
        num_heads=tuple(heads),
        out_indices=tuple(
            i for i in range(len(depths)) if f'norm{i}.weight' in state))


def complete_and_check(state: StateDict) -> StateDict:
    """Load ``state`` strictly into an mmdet ``SwinTransformer`` of its
    architecture; missing ``relative_position_index`` buffers are taken
    from that model. Returns the completed state dict."""
    from mmdet.models.backbones import SwinTransformer
    model = SwinTransformer(**swin_arch(state))
    reference = model.state_dict()
    state = OrderedDict(state)
    for key, value in reference.items():
        if key.endswith('relative_position_index') and key not in state:
            state[key] = value
    missing, unexpected = _key_diff(reference, state)
    if missing or unexpected:
        raise LayoutError(
            f'the converted Swin does not match mmdet\'s SwinTransformer: '
            f'missing {missing[:5]}, unexpected {unexpected[:5]}')
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:  # shapes
        raise LayoutError(f'the converted Swin does not load into mmdet\'s '
                          f'SwinTransformer: {err}') from None
    return state


def _key_diff(reference: StateDict,
              state: StateDict) -> Tuple[List[str], List[str]]:
    return (sorted(set(reference) - set(state)),
            sorted(set(state) - set(reference)))
