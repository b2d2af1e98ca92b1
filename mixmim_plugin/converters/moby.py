"""MoBY checkpoints, whole model: the authors' layout <-> the plugin's.

For the encoder alone, in the Swin layout of mmdet / mmseg / mmpretrain,
use :func:`~mixmim_plugin.converters.moby_to_swin`; this module converts
everything (both encoders, projectors, the predictor and the queues), so a
MoBY of the authors can be evaluated, fine-tuned or inspected as a plugin
:class:`~mixmim_plugin.models.MoBY`.

Authors (SwinTransformer/Transformer-SSL, ``models/moby.py``, under
``'model'``):

* ``encoder.*`` (online) and ``encoder_k.*`` (target): the official Swin
  layout (``patch_embed.proj``, ``layers.i.blocks.j.attn``, ``mlp.fc1``,
  timm-ordered ``downsample``, final ``norm``, ``attn_mask`` buffers) or
  timm's DeiT (``blocks.i.*``);
* ``projector.*``, ``projector_k.*``, ``predictor.*``: ``MoBYMLP``, whose
  k-th hidden Linear and BatchNorm are ``linear_hidden.{3k+1}`` and
  ``linear_hidden.{3k+2}`` and whose last Linear is ``linear_out``;
* ``queue1``, ``queue2``: (feat_dim, queue_len); ``queue_ptr``.

Plugin: ``backbone.*`` / ``target.module.0.*`` (mmpretrain's Swin or ViT),
``neck.*`` / ``target.module.1.*`` and ``predictor.*`` (``NonLinearNeck``:
``fc{k}``, ``bn{k}``), ``queues`` (2, queue_len, feat_dim), ``queue_ptr``
and ``target.steps`` (the momentum schedule's iteration counter).

Two things the authors' checkpoint does not hold:

* the iteration counter: ``target.steps`` is set to 0, so the momentum
  schedule restarts at its base value; the converted target encoder is
  kept (:class:`~mixmim_plugin.models.selfsup.moby.MomentumTarget` blends
  it with the online one from the first update on, it never copies);
* in the variant with BatchNorm before every MLP their BatchNorm is created
  afresh, without state, at every call: the converter fills weight 1, bias
  0 (what theirs applies) and neutral running statistics (mean 0, variance
  1). Re-estimate the statistics before evaluating in eval mode.
"""
import re
from collections import OrderedDict
from typing import Callable, Dict, List, Tuple

import torch
from torch import Tensor

from .rules import (LayoutError, StateDict, add_prefix, rename_state,
                    require_keys, strip_prefix, unwrap, vit_rules)
from .swin import mlp_batchnorm, official_to_mmcv

AUTHORS = "authors' MoBY"
PLUGIN = 'plugin MoBY'
# (authors' prefix, plugin prefix)
ENCODERS: List[Tuple[str, str]] = [('encoder.', 'backbone.'),
                                   ('encoder_k.', 'target.module.0.')]
MLPS: List[Tuple[str, str]] = [('projector.', 'neck.'),
                               ('projector_k.', 'target.module.1.'),
                               ('predictor.', 'predictor.')]
QUEUES = ('queue1', 'queue2')
# official Swin -> mmcv Swin names, for writing the authors' layout;
# ``norm.`` (the last stage's ``norm{i}``) is added per checkpoint
SWIN_RULES = [
    ('patch_embed.proj.', 'patch_embed.projection.'),
    ('patch_embed.norm.', 'patch_embed.norm.'),
    ('absolute_pos_embed', 'absolute_pos_embed'),
    ('layers.{i}.blocks.{j}.attn.', 'stages.{i}.blocks.{j}.attn.w_msa.'),
    ('layers.{i}.blocks.{j}.norm1.', 'stages.{i}.blocks.{j}.norm1.'),
    ('layers.{i}.blocks.{j}.norm2.', 'stages.{i}.blocks.{j}.norm2.'),
    ('layers.{i}.blocks.{j}.mlp.fc1.',
     'stages.{i}.blocks.{j}.ffn.layers.0.0.'),
    ('layers.{i}.blocks.{j}.mlp.fc2.', 'stages.{i}.blocks.{j}.ffn.layers.1.'),
    ('layers.{i}.downsample.', 'stages.{i}.downsample.'),
]
# mmcv's PatchMerging takes the 2x2 neighbours channel-major, the official
# one as four channel blocks in the order (0,0), (1,0), (0,1), (1,1)
_MERGE_ORDER = (0, 2, 1, 3)


def moby_to_plugin(checkpoint: dict) -> StateDict:
    """The authors' MoBY (Swin or DeiT encoders) -> the plugin's
    :class:`MoBY` layout.

    Raises:
        LayoutError: not the authors' layout (no queues, a missing branch)
            or keys MoBY does not have.
    """
    state = unwrap(checkpoint)
    require_keys(state, [*QUEUES, 'queue_ptr'], AUTHORS)
    used = set(QUEUES) | {'queue_ptr'}
    out = _branches(state, used, _encoder_to_plugin, reverse=False)
    _check_all_used(state, used, AUTHORS)
    out['queues'] = torch.stack([state[q].t() for q in QUEUES]).contiguous()
    out['queue_ptr'] = state['queue_ptr'].clone()
    out['target.steps'] = torch.tensor(0, dtype=torch.long)
    return out


def plugin_to_moby(checkpoint: dict, img_size: int = 224) -> StateDict:
    """The plugin's :class:`MoBY` -> the authors' layout.

    Args:
        checkpoint: a plugin MoBY checkpoint or state dict.
        img_size: the pretraining input size; the authors' Swin stores the
            shifted-window attention masks, which depend on it.

    Raises:
        LayoutError: not a plugin MoBY, or a Swin with BatchNorm before the
            MLP (the authors' layout cannot hold that BatchNorm's weights).
    """
    state = unwrap(checkpoint)
    require_keys(state, ['queues', 'queue_ptr'], PLUGIN)
    used = {'queues', 'queue_ptr', 'target.steps'}
    out = _branches(
        state,
        used,
        lambda branch, prefix: _encoder_to_authors(branch, img_size),
        reverse=True)
    _check_all_used(state, used, PLUGIN, ignored=('data_preprocessor.', ))
    queues = state['queues']
    for i, name in enumerate(QUEUES):
        out[name] = queues[i].t().contiguous()
    out['queue_ptr'] = state['queue_ptr'].clone()
    return out


# ---------------------------------------------------------------- helpers
def _branches(state: StateDict, used: set,
              convert_encoder: Callable[[StateDict, str], StateDict],
              reverse: bool) -> StateDict:
    """Both encoders (by ``convert_encoder(branch, its prefix)``) and the
    three MLPs of ``state``, under their prefixes of the other layout:
    authors' -> plugin's, or back with ``reverse``. Their keys are added to
    ``used``."""
    out = OrderedDict()
    for pairs, is_encoder in ((ENCODERS, True), (MLPS, False)):
        for authors, plugin in pairs:
            source, target = ((plugin, authors) if reverse else
                              (authors, plugin))
            branch = _branch(state, source, used)
            if is_encoder:
                branch = convert_encoder(branch, source)
            else:
                branch = _mlp(branch, source, reverse=reverse)
            out.update(add_prefix(target, branch))
    return out


def _branch(state: StateDict, prefix: str, used: set) -> StateDict:
    """The keys under ``prefix`` without it (marked as used)."""
    branch = strip_prefix(state, prefix)
    if not branch:
        raise LayoutError(f'no {prefix}* keys: not a MoBY checkpoint, or one '
                          f'without that branch; its keys start with: '
                          f'{sorted(state)[:4]}')
    used.update(prefix + k for k in branch)
    return branch


def _check_all_used(state: StateDict,
                    used: set,
                    layout: str,
                    ignored: Tuple[str, ...] = ()) -> None:
    """Raise :class:`LayoutError` naming the keys of ``state`` that are not
    ``used`` (apart from those starting with ``ignored``)."""
    left = sorted(k for k in set(state) - used if not k.startswith(ignored))
    if left:
        raise LayoutError(f'{len(left)} keys are not part of the {layout} '
                          f'layout, e.g. {left[:5]}')


def _mlp(state: StateDict, prefix: str, reverse: bool) -> StateDict:
    """MoBYMLP <-> NonLinearNeck names (any number of layers)."""
    if reverse:
        hidden = len({k.split('.')[0] for k in state if k.startswith('bn')})
    else:
        hidden = len(
            {k.split('.')[1]
             for k in state if k.startswith('linear_hidden.')}) // 2
    rules = [(f'linear_hidden.{3 * k + 1}.', f'fc{k}.') for k in range(hidden)]
    rules += [(f'linear_hidden.{3 * k + 2}.', f'bn{k}.')
              for k in range(hidden)]
    rules.append(('linear_out.', f'fc{hidden}.'))
    layout = f'{PLUGIN if reverse else AUTHORS} MLP {prefix!r}'
    return rename_state(state, rules, layout, reverse=reverse)


def _encoder_to_plugin(state: StateDict, prefix: str) -> StateDict:
    """One authors' encoder (official Swin or timm DeiT) -> mmpretrain."""
    require_keys(state, ['patch_embed.proj.weight'],
                 f'{AUTHORS} encoder {prefix!r}')
    if any(k.startswith('layers.') for k in state):
        swin = OrderedDict(
            (k, v) for k, v in state.items() if not k.endswith('attn_mask'))
        return _fill_mlp_batchnorm(official_to_mmcv(swin))
    return rename_state(state, vit_rules('', ''),
                        f'{AUTHORS} DeiT encoder {prefix!r}')


def _fill_mlp_batchnorm(state: StateDict) -> StateDict:
    """Add the stateless BatchNorm before the MLP of every block that has
    no ``norm2`` (the authors' ``norm_before_mlp='bn'``)."""
    out = OrderedDict(state)
    for key, value in state.items():
        match = re.match(r'^(stages\.\d+\.blocks\.\d+\.)norm1\.weight$', key)
        if match and match.group(1) + 'norm2.weight' not in state:
            channels = value.shape[0]
            bn = match.group(1) + 'norm2.bn.'
            out[bn + 'weight'] = torch.ones(channels)
            out[bn + 'bias'] = torch.zeros(channels)
            out[bn + 'running_mean'] = torch.zeros(channels)
            out[bn + 'running_var'] = torch.ones(channels)
            out[bn + 'num_batches_tracked'] = torch.tensor(0)
    return out


def _encoder_to_authors(state: StateDict, img_size: int) -> StateDict:
    """One mmpretrain encoder (Swin or ViT) -> the authors' names."""
    require_keys(state, ['patch_embed.projection.weight'], f'{PLUGIN} encoder')
    if not any(k.startswith('stages.') for k in state):
        return rename_state(
            state, vit_rules('', ''), f'{PLUGIN} DeiT encoder', reverse=True)
    bn = mlp_batchnorm(state)
    if bn:
        raise LayoutError(
            f'{bn}: the authors\' BatchNorm before the MLP is created '
            'afresh at every call and holds no weights, so this BatchNorm '
            'cannot be written in their layout')
    last = max(int(k.split('.')[1]) for k in state if k.startswith('stages.'))
    rules = SWIN_RULES + [('norm.', f'norm{last}.')]
    out = rename_state(state, rules, f'{PLUGIN} Swin encoder', reverse=True)
    for key in [k for k in out if '.downsample.' in k]:
        out[key] = _merge_to_official(out[key])
    out.update(_attention_masks(out, img_size))
    return out


def _merge_to_official(value: Tensor) -> Tensor:
    """Reorder the 4C input channels of a patch merging (norm: (4C, );
    reduction: (2C, 4C)) from mmcv's order to the official one."""
    n = value.shape[-1]
    C = n // 4
    group, c = torch.arange(n) // C, torch.arange(n) % C
    order = torch.as_tensor(_MERGE_ORDER)
    return value[..., c * 4 + order[group]]


def _attention_masks(state: StateDict, img_size: int) -> Dict[str, Tensor]:
    """The ``attn_mask`` buffers of the authors' shifted-window blocks (odd
    blocks of the stages whose map is larger than the window)."""
    from mmpretrain.models.utils.attention import ShiftWindowMSA
    patch = state['patch_embed.proj.weight'].shape[-1]
    masks = OrderedDict()
    for key, table in state.items():
        match = re.match(
            r'^layers\.(\d+)\.blocks\.(\d+)\.attn\.'
            r'relative_position_bias_table$', key)
        if not match or int(match.group(2)) % 2 == 0:
            continue
        stage = int(match.group(1))
        resolution = img_size // patch // 2**stage
        window = (int(round(table.shape[0]**.5)) + 1) // 2
        if resolution > window:
            masks[key[:-len('attn.relative_position_bias_table')] +
                  'attn_mask'] = ShiftWindowMSA.get_attn_mask(
                      (resolution, resolution), window, window // 2)
    return masks
