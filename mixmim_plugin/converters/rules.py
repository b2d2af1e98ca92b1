"""Key-renaming rules shared by the checkpoint converters.

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

from .mixmim import LayoutError

StateDict = Dict[str, Tensor]
Rule = Tuple[str, str]


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


def block_rules(source: str, target: str) -> List[Rule]:
    """timm ``Block`` (``norm1``, ``attn``, ``norm2``, ``mlp.fc1/2``) ->
    mmpretrain ``TransformerEncoderLayer`` (``ln1``, ``attn``, ``ln2``,
    ``ffn.layers.0.0`` / ``ffn.layers.1``) under the given prefixes (which
    may contain ``{i}``)."""
    return [
        (source + 'norm1.', target + 'ln1.'),
        (source + 'attn.', target + 'attn.'),
        (source + 'norm2.', target + 'ln2.'),
        (source + 'mlp.fc1.', target + 'ffn.layers.0.0.'),
        (source + 'mlp.fc2.', target + 'ffn.layers.1.'),
    ]


def vit_rules(source: str = '', target: str = 'backbone.') -> List[Rule]:
    """A timm ``VisionTransformer`` (MAE's, DropPos's, DeiT) -> mmpretrain's
    ``VisionTransformer`` / ``MAEViT``. The final ``norm`` becomes ``ln1``;
    the global-pool norm of a fine-tuned model (``fc_norm``) becomes
    ``ln2`` (mmpretrain's norm after ``avg_featmap``)."""
    return [
        (source + 'cls_token', target + 'cls_token'),
        (source + 'pos_embed', target + 'pos_embed'),
        (source + 'patch_embed.proj.', target + 'patch_embed.projection.'),
        *block_rules(source + 'blocks.{i}.', target + 'layers.{i}.'),
        (source + 'norm.', target + 'ln1.'),
        (source + 'fc_norm.', target + 'ln2.'),
    ]
