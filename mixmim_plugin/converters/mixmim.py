"""MixMIM checkpoint layouts -> the plugin's layout (and back).

Three layouts exist:

* plugin: ``backbone.*`` is mmpretrain's ``MixMIMTransformer`` layout without
  the ``relative_position_index`` buffers; the decoder is ``neck.*`` with its
  norm as ``neck.decoder_norm``; a classifier's head is ``head.fc.*``.
* mmpretrain (``MixMIM`` pretraining / ``ImageClassifier`` fine-tuning):
  as the plugin, plus ``relative_position_index`` and ``neck.ln1``.
* authors (Sense-X/MixMIM, timm style, often under ``'model'``): top-level
  ``patch_embed.proj``, ``layers.i.blocks.j.{norm1,attn,norm2,mlp}`` (with
  ``relative_position_index`` buffers),
  ``decoder_*``; timm's PatchMerging concatenates the 2x2 neighbours in the
  order (0,0), (1,0), (0,1), (1,1), while mmcv's unfold-based PatchMerging
  orders them channel-major, so ``downsample.norm`` and
  ``downsample.reduction`` are permuted.
"""
import re
from collections import OrderedDict
from typing import List

import torch
from torch import Tensor

from .rules import (LayoutError, Rule, StateDict, block_rules,
                    pixel_decoder_rules, rename_key, require_keys, unwrap)


def _require(state: StateDict, keys: List[str], layout: str) -> None:
    require_keys(state, keys, f'{layout} MixMIM')


def _without_index_buffers(state: StateDict) -> StateDict:
    return OrderedDict((k, v) for k, v in state.items()
                       if not k.endswith('relative_position_index'))


# ------------------------------------------------------------ merge order
def _unfold_from_timm(n: int) -> Tensor:
    """Index ``idx`` with ``unfold[j] = timm[idx[j]]`` for 4C channels.

    unfold channel ``j = c * 4 + kh * 2 + kw``; timm channel
    ``(kw * 2 + kh) * C + c``.
    """
    C = n // 4
    j = torch.arange(n)
    c, kh, kw = j // 4, (j % 4) // 2, j % 2
    return (kw * 2 + kh) * C + c


def _timm_from_unfold(n: int) -> Tensor:
    return torch.argsort(_unfold_from_timm(n))


def _permute_merge(state: StateDict, prefix: str, index_fn) -> None:
    for suffix in ('norm.weight', 'norm.bias'):
        key = prefix + suffix
        state[key] = state[key][index_fn(state[key].shape[0])]
    key = prefix + 'reduction.weight'
    state[key] = state[key][:, index_fn(state[key].shape[1])]


# ------------------------------------------------------------ mmpretrain
# mmpretrain's decoder norm -> the plugin's; other keys are the same
_MMPRETRAIN_RULES: List[Rule] = [('neck.ln1.', 'neck.decoder_norm.')]


def _mmpretrain_renamed(state: StateDict, reverse: bool) -> StateDict:
    return OrderedDict((rename_key(k, _MMPRETRAIN_RULES, reverse) or k, v)
                       for k, v in state.items())


def mmpretrain_to_plugin(checkpoint: dict) -> StateDict:
    """mmpretrain MixMIM (pretraining or fine-tuned) -> plugin."""
    state = unwrap(checkpoint)
    _require(state, ['backbone.patch_embed.projection.weight'], 'mmpretrain')
    return _mmpretrain_renamed(_without_index_buffers(state), reverse=False)


def _with_index_buffers(state: StateDict) -> StateDict:
    """``state`` with a ``relative_position_index`` buffer after every
    ``relative_position_bias_table`` (where mmpretrain's and the authors'
    attention modules register it; both use Swin's index)."""
    from mixmim_plugin.models.utils import relative_position_index
    out = OrderedDict()
    for key, value in state.items():
        out[key] = value
        if key.endswith('attn.relative_position_bias_table'):
            side = int(round(((value.shape[0])**.5 + 1) / 2))
            out[key.replace('bias_table', 'index')] = relative_position_index(
                (side, side)).clone()
    return out


def plugin_to_mmpretrain(state: StateDict) -> StateDict:
    """plugin -> mmpretrain MixMIM layout (index buffers recomputed)."""
    state = unwrap(state)
    _require(state, ['backbone.patch_embed.projection.weight'], 'plugin')
    return _with_index_buffers(_mmpretrain_renamed(state, reverse=True))


# ------------------------------------------------------------ authors
# authors' names -> the plugin's (see :mod:`.rules`)
_AUTHOR_RULES: List[Rule] = [
    ('patch_embed.proj.', 'backbone.patch_embed.projection.'),
    ('patch_embed.norm.', 'backbone.patch_embed.norm.'),
    ('absolute_pos_embed', 'backbone.absolute_pos_embed'),
    *block_rules('layers.{i}.blocks.{j}.', 'backbone.layers.{i}.blocks.{j}.'),
    ('layers.', 'backbone.layers.'),
    ('norm.', 'backbone.norm.'),
    *pixel_decoder_rules('decoder_', 'neck.', norm='decoder_norm.'),
    ('decoder_blocks.', 'neck.decoder_blocks.'),
    ('head.', 'head.fc.'),
]


def _rename(key: str, reverse: bool = False) -> str:
    """Rename an authors' key to the plugin's (or back with ``reverse``)."""
    renamed = rename_key(key, _AUTHOR_RULES, reverse)
    if renamed is None:
        raise LayoutError(f'no rule maps the key {key!r}')
    return renamed


def _merge_prefixes(state: StateDict) -> List[str]:
    return [
        key[:-len('reduction.weight')] for key in state if re.match(
            r'^backbone\.layers\.\d+\.downsample\.reduction\.weight$', key)
    ]


def authors_to_plugin(checkpoint: dict) -> StateDict:
    """Sense-X/MixMIM (pretraining ``MixMIM`` or fine-tuned) -> plugin."""
    state = unwrap(checkpoint)
    _require(state, ['patch_embed.proj.weight'], "authors' (timm-style)")
    out = OrderedDict((_rename(key), value.clone())
                      for key, value in _without_index_buffers(state).items())
    for prefix in _merge_prefixes(out):
        _permute_merge(out, prefix, _unfold_from_timm)
    return out


def plugin_to_authors(state: StateDict) -> StateDict:
    """plugin -> Sense-X/MixMIM layout, with the ``relative_position_index``
    buffers their modules hold, so their strict load (resume) accepts it."""
    state = unwrap(state)
    _require(state, ['backbone.patch_embed.projection.weight'], 'plugin')
    out = OrderedDict((key, value.clone()) for key, value in state.items()
                      if not key.startswith('data_preprocessor'))
    for prefix in _merge_prefixes(out):
        _permute_merge(out, prefix, _timm_from_unfold)
    out = OrderedDict((_rename(k, reverse=True), v) for k, v in out.items())
    return _with_index_buffers(out)
