"""The generic pieces of the checkpoint converters: the error they raise,
unwrapping a checkpoint's state dict, prefixes, and key-renaming rules.

A rule is a pair of templates ``(source, target)``. A template ending with
``.`` renames a prefix (``'blocks.{i}.norm1.'`` renames
``blocks.3.norm1.weight`` and ``blocks.3.norm1.bias``); any other template
renames exactly one key (``'pos_embed'`` does not touch
``decoder_pos_embed``). ``{i}`` and ``{j}`` stand for non-negative integers
and carry over to the target. The first matching rule wins; the same rules
rename back with ``reverse=True``.
"""
import re
from collections import OrderedDict
from functools import lru_cache
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from torch import Tensor

StateDict = Dict[str, Tensor]
Rule = Tuple[str, str]


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


def strip_prefix(state: StateDict, prefix: str) -> StateDict:
    """The entries of ``state`` under ``prefix``, without it."""
    return OrderedDict(
        (k[len(prefix):], v) for k, v in state.items() if k.startswith(prefix))


def add_prefix(prefix: str, state: StateDict) -> StateDict:
    """``state`` with ``prefix`` before every key."""
    return OrderedDict((prefix + k, v) for k, v in state.items())


@lru_cache(maxsize=None)
def _compile(template: str) -> re.Pattern:
    pattern = re.escape(template)
    for name in ('i', 'j'):
        pattern = pattern.replace(
            re.escape('{%s}' % name), f'(?P<{name}>\\d+)')
    return re.compile('^' + pattern + ('' if template.endswith('.') else '$'))


def rename_key(key: str,
               rules: Sequence[Rule],
               reverse: bool = False) -> Optional[str]:
    """The renamed ``key``, or None when no rule matches it."""
    for source, target in rules:
        if reverse:
            source, target = target, source
        match = _compile(source).match(key)
        if match:
            return target.format(**match.groupdict()) + key[match.end():]
    return None


def rename_state(state: StateDict,
                 rules: Sequence[Rule],
                 layout: str,
                 reverse: bool = False) -> StateDict:
    """Rename every key of ``state`` (tensors are shared, not copied).

    Raises:
        LayoutError: some keys match no rule; the message names ``layout``
            and the first of those keys.
    """
    out, unmapped = OrderedDict(), []
    for key, value in state.items():
        new_key = rename_key(key, rules, reverse)
        if new_key is None:
            unmapped.append(key)
        else:
            out[new_key] = value
    if unmapped:
        raise LayoutError(
            f'{len(unmapped)} keys are not part of the {layout} layout, '
            f'e.g. {unmapped[:5]}')
    return out


def require_keys(state: StateDict, keys: Iterable[str], layout: str) -> None:
    """Raise :class:`LayoutError` naming ``layout`` unless every key of
    ``keys`` is in ``state``."""
    missing = [k for k in keys if k not in state]
    if missing:
        raise LayoutError(
            f'not a {layout} checkpoint: missing {missing}; its keys start '
            f'with: {sorted(state)[:4]}')


def reject_keys(state: StateDict, keys: Iterable[str], layout: str,
                hint: str) -> None:
    """Raise :class:`LayoutError` when ``state`` holds one of ``keys`` (a
    key of another layout); ``hint`` says what the checkpoint is."""
    found = [k for k in keys if k in state]
    if found:
        raise LayoutError(f'not a {layout} checkpoint: it has {found[0]!r} '
                          f'({hint})')


def prefixed_rules(source: str, target: str,
                   names: Iterable[Rule]) -> List[Rule]:
    """The rules ``(source + a, target + b)`` of the name pairs ``(a, b)``."""
    return [(source + a, target + b) for a, b in names]


# timm Block -> mmpretrain TransformerEncoderLayer
BLOCK_NAMES: Tuple[Rule, ...] = (
    ('norm1.', 'ln1.'),
    ('attn.', 'attn.'),
    ('norm2.', 'ln2.'),
    ('mlp.fc1.', 'ffn.layers.0.0.'),
    ('mlp.fc2.', 'ffn.layers.1.'),
)


def block_rules(source: str, target: str) -> List[Rule]:
    """timm ``Block`` (``norm1``, ``attn``, ``norm2``, ``mlp.fc1/2``) ->
    mmpretrain ``TransformerEncoderLayer`` (``ln1``, ``attn``, ``ln2``,
    ``ffn.layers.0.0`` / ``ffn.layers.1``) under the given prefixes (which
    may contain ``{i}``)."""
    return prefixed_rules(source, target, BLOCK_NAMES)


def vit_rules(source: str = '', target: str = 'backbone.') -> List[Rule]:
    """A timm ``VisionTransformer`` (MAE's, DropPos's, DeiT) -> mmpretrain's
    ``VisionTransformer`` / ``MAEViT``. The final ``norm`` becomes ``ln1``;
    the global-pool norm of a fine-tuned model (``fc_norm``) becomes
    ``ln2`` (mmpretrain's norm after ``avg_featmap``)."""
    return [
        *prefixed_rules(source, target,
                        (('cls_token', 'cls_token'),
                         ('pos_embed', 'pos_embed'),
                         ('patch_embed.proj.', 'patch_embed.projection.'))),
        *block_rules(source + 'blocks.{i}.', target + 'layers.{i}.'),
        *prefixed_rules(source, target,
                        (('norm.', 'ln1.'), ('fc_norm.', 'ln2.'))),
    ]


def decoder_rules(source: str, target: str, norm: str) -> List[Rule]:
    """A timm-style decoder (``{source}embed``, ``{source}blocks.i``,
    ``{source}norm``, ``{source}pred``) -> ``{target}decoder_embed``,
    ``{target}decoder_blocks.i`` (mmpretrain's layer names),
    ``{target}{norm}`` and ``{target}decoder_pred``."""
    return [
        (source + 'embed.', target + 'decoder_embed.'),
        *block_rules(source + 'blocks.{i}.', target + 'decoder_blocks.{i}.'),
        (source + 'norm.', target + norm),
        (source + 'pred.', target + 'decoder_pred.'),
    ]


def pixel_decoder_rules(source: str,
                        target: str,
                        norm: str = 'ln1.') -> List[Rule]:
    """MAE's pixel decoder (MAE's, DropPos's auxiliary one, MixMIM's):
    :func:`decoder_rules` plus ``mask_token`` and the position embedding
    ``{source}pos_embed`` -> ``{target}decoder_pos_embed``; by default
    into mmpretrain's ``MAEPretrainDecoder`` (norm ``ln1``)."""
    return [
        ('mask_token', target + 'mask_token'),
        (source + 'pos_embed', target + 'decoder_pos_embed'),
        *decoder_rules(source, target, norm),
    ]
