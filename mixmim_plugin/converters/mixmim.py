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
from typing import Dict, List, Tuple

import torch
from torch import Tensor

StateDict = Dict[str, Tensor]


class LayoutError(ValueError):
    """A checkpoint is not in the layout a converter expects."""


def unwrap(checkpoint: dict) -> StateDict:
    """The state dict of a checkpoint file's content (``state_dict`` /
    ``model`` / ``module`` wrappers are removed)."""
    if not isinstance(checkpoint, dict):
        raise LayoutError(f'a checkpoint must be a dict, got '
                          f'{type(checkpoint).__name__}')
    for key in ('state_dict', 'model', 'module'):
        if key in checkpoint and isinstance(checkpoint[key], dict):
            return checkpoint[key]
    return checkpoint


def _require(state: StateDict, keys: List[str], layout: str) -> None:
    missing = [k for k in keys if k not in state]
    if missing:
        sample = ', '.join(sorted(state)[:4])
        raise LayoutError(
            f'not a {layout} MixMIM checkpoint: missing {missing}; its keys '
            f'start with: {sample}')


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
def mmpretrain_to_plugin(checkpoint: dict) -> StateDict:
    """mmpretrain MixMIM (pretraining or fine-tuned) -> plugin."""
    state = unwrap(checkpoint)
    _require(state, ['backbone.patch_embed.projection.weight'], 'mmpretrain')
    out = OrderedDict()
    for key, value in state.items():
        if key.endswith('relative_position_index'):
            continue
        if key.startswith('neck.ln1.'):
            key = 'neck.decoder_norm.' + key[len('neck.ln1.'):]
        out[key] = value
    return out


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
    out = OrderedDict()
    for key, value in state.items():
        if key.startswith('neck.decoder_norm.'):
            key = 'neck.ln1.' + key[len('neck.decoder_norm.'):]
        out[key] = value
    return _with_index_buffers(out)


# ------------------------------------------------------------ authors
# (authors' prefix, plugin prefix); ``{i}``/``{j}`` stand for integers. The
# first matching pair renames a key, in either direction.
_AUTHOR_PREFIXES: List[Tuple[str, str]] = [
    ('patch_embed.proj.', 'backbone.patch_embed.projection.'),
    ('patch_embed.norm.', 'backbone.patch_embed.norm.'),
    ('absolute_pos_embed', 'backbone.absolute_pos_embed'),
    ('layers.{i}.blocks.{j}.norm1.', 'backbone.layers.{i}.blocks.{j}.ln1.'),
    ('layers.{i}.blocks.{j}.norm2.', 'backbone.layers.{i}.blocks.{j}.ln2.'),
    ('layers.{i}.blocks.{j}.mlp.fc1.',
     'backbone.layers.{i}.blocks.{j}.ffn.layers.0.0.'),
    ('layers.{i}.blocks.{j}.mlp.fc2.',
     'backbone.layers.{i}.blocks.{j}.ffn.layers.1.'),
    ('layers.', 'backbone.layers.'),
    ('norm.', 'backbone.norm.'),
    ('mask_token', 'neck.mask_token'),
    ('decoder_pos_embed', 'neck.decoder_pos_embed'),
    ('decoder_embed.', 'neck.decoder_embed.'),
    ('decoder_blocks.{i}.norm1.', 'neck.decoder_blocks.{i}.ln1.'),
    ('decoder_blocks.{i}.norm2.', 'neck.decoder_blocks.{i}.ln2.'),
    ('decoder_blocks.{i}.mlp.fc1.', 'neck.decoder_blocks.{i}.ffn.layers.0.0.'),
    ('decoder_blocks.{i}.mlp.fc2.', 'neck.decoder_blocks.{i}.ffn.layers.1.'),
    ('decoder_blocks.', 'neck.decoder_blocks.'),
    ('decoder_norm.', 'neck.decoder_norm.'),
    ('decoder_pred.', 'neck.decoder_pred.'),
    ('head.', 'head.fc.'),
]


def _prefix_regex(template: str) -> str:
    pattern = re.escape(template)
    for name in ('i', 'j'):
        pattern = pattern.replace(
            re.escape('{%s}' % name), f'(?P<{name}>\\d+)')
    return '^' + pattern


def _rename(key: str, reverse: bool = False) -> str:
    """Rename an authors' key to the plugin's (or back with ``reverse``)."""
    for authors, plugin in _AUTHOR_PREFIXES:
        source, target = (plugin, authors) if reverse else (authors, plugin)
        match = re.match(_prefix_regex(source), key)
        if match:
            return target.format(**match.groupdict()) + key[match.end():]
    raise LayoutError(f'no rule maps the key {key!r}')


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
                      for key, value in state.items()
                      if not key.endswith('relative_position_index'))
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
