"""The backbone protocols the pretrainers rely on, declared once.

A pretrainer checks its backbone against one of these when it is built
(``isinstance`` works on them), so a backbone that lacks a method is a
``TypeError`` naming the protocol, not an ``AttributeError`` mid-step.
"""
from typing import Protocol, Sequence, Tuple, Union, runtime_checkable

from mmpretrain.models.utils import to_2tuple
from torch import Tensor, nn

from mixmim_plugin.registry import MODELS


@runtime_checkable
class MixedEncoder(Protocol):
    """An encoder MixMIM can pretrain (:class:`MixMIMEncoder`,
    :class:`MixMIMViT`, :class:`MixMIMSwin`)."""

    @property
    def output_stride(self) -> int:
        """Pixels per output token side; a mix unit covers whole tokens."""

    @property
    def output_channels(self) -> int:
        """Channels of the output tokens."""

    @property
    def output_grid(self) -> Tuple[int, int]:
        """(h, w) token grid of the output at the built input size."""

    def forward_mixed(self, x: Tensor, mix_mask: Tensor) -> Tensor:
        """(B, 3, H, W) mixed images and their (B, h, w) unit mask ->
        (B, (H / s) * (W / s), C) output tokens in raster order, each
        attending only to tokens of its own source image."""


@runtime_checkable
class DropPosEncoder(Protocol):
    """An encoder DropPos can pretrain (:class:`DropPosViT`,
    :class:`DropPosMixMIM`)."""
    num_extra_tokens: int

    @property
    def output_channels(self) -> int:
        """Channels of the encoded tokens."""

    @property
    def position_grid(self) -> Tuple[int, int]:
        """(h, w) grid of the positions to reconstruct."""

    def forward_droppos(self, x: Tensor, patch_mask: Tensor,
                        pos_mask: Tensor) -> Tensor:
        """Encode the visible patches, ``pos_mask`` ones without their
        position: (B, num_extra_tokens + n_visible, C)."""

    def patch_similarity(self, x: Tensor) -> Tensor:
        """(B, L) similarity of the [CLS]-like summary to every patch of the
        whole images, for the attentive loss."""


def check_protocol(module: object, protocol: type, user: str) -> None:
    """Raise a ``TypeError`` naming ``protocol`` and what ``module`` lacks
    of it, unless ``module`` follows it."""
    if isinstance(module, protocol):
        return
    members = [
        name for name in vars(protocol)
        if not name.startswith('_') and name not in vars(object)
    ] + list(getattr(protocol, '__annotations__', {}))
    missing = sorted({name for name in members if not hasattr(module, name)})
    raise TypeError(f'{user} needs a {protocol.__name__} backbone; '
                    f'{type(module).__name__} lacks {", ".join(missing)}')


def build_backbone(cfg: Union[dict, nn.Module], protocol: type,
                   user: str) -> nn.Module:
    """Build a pretrainer's backbone (a module is taken as it is) and check
    it follows ``protocol``, before the neck and head sizes are derived
    from it."""
    backbone = cfg if isinstance(cfg, nn.Module) else MODELS.build(cfg)
    check_protocol(backbone, protocol, user)
    return backbone


def derive_sizes(cfg: Union[dict, nn.Module], owner: str,
                 **derived) -> Union[dict, nn.Module]:
    """A neck / head config with the sizes that follow from the backbone
    filled in (a built module is returned as it is).

    A size the config states differently is a ``ValueError`` naming both;
    an int and a pair of equal ints state the same grid.
    """
    if isinstance(cfg, nn.Module):
        return cfg
    cfg = dict(cfg)
    for key, value in derived.items():
        stated = cfg.setdefault(key, value)
        if stated != value and to_2tuple(stated) != to_2tuple(value):
            raise ValueError(
                f'{owner}.{key} is {stated} but the backbone gives {value}: '
                f'leave {key} out of the config (it is derived)')
    return cfg


def square_stride(kernel: Sequence[int], stride: Sequence[int],
                  what: str) -> int:
    """The stride of a square, non-overlapping patch layer (patch
    embedding, patch merging); anything else would let a token mix both
    images of a MixMIM pair."""
    kernel: Tuple[int, int] = to_2tuple(kernel)
    stride: Tuple[int, int] = to_2tuple(stride)
    if kernel != stride or stride[0] != stride[1]:
        raise ValueError(
            f'forward_mixed needs square, non-overlapping {what}; got kernel '
            f'{kernel} and stride {stride}: a token would mix both images')
    return stride[0]
