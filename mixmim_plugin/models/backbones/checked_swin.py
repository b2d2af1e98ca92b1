"""mmdet's and mmseg's ``SwinTransformer`` with a checked pretrained load.

Both read ``init_cfg``'s checkpoint themselves (``backbone.*`` keys) and load
it with ``strict=False``: a missing tensor goes unnoticed (a MoBY encoder
with BatchNorm before the MLP leaves every ``norm2`` at its initialisation),
a shape mismatch is torch's bare ``size mismatch`` error. These subclasses
check the checkpoint as their parent will read it
(:mod:`mixmim_plugin.models.utils.checked_load`), then let the parent load
it; everything else is the parent's. The MoBY detection and segmentation
configs, which load ``moby2swin.py``'s output, use them:
``type='mixmim_plugin.CheckedDetSwinTransformer'`` replaces mmdet's
``SwinTransformer``, ``'mixmim_plugin.CheckedSegSwinTransformer'`` mmseg's.
"""
from abc import ABC, abstractmethod
from dataclasses import replace
from typing import Dict

from mmdet.models.backbones import SwinTransformer as DetSwinTransformer
from mmdet.models.backbones.swin import swin_converter
from mmengine.runner.checkpoint import _load_checkpoint
from mmseg.models.backbones import SwinTransformer as SegSwinTransformer
from torch import Tensor

from mixmim_plugin.registry import MODELS
from ..utils.checked_load import (LoadSpec, check_state, pretrained_cfg,
                                  swin_load_spec, under_prefix, without_prefix)

PREFIX = 'backbone.'


class CheckedSwinInit(ABC):
    """``init_weights`` of a Swin that loads ``init_cfg['checkpoint']``
    itself: check the checkpoint first, as :meth:`pretrained_state` says
    the parent reads it."""

    def load_spec(self) -> LoadSpec:
        """:func:`swin_load_spec`, but the relative position indices are
        compared: the parent loads them as they are (it resizes the bias
        tables only), so a checkpoint of another window does not fit."""
        spec = swin_load_spec(self.out_indices, len(self.stages))
        return replace(spec, derived=())

    @abstractmethod
    def pretrained_state(self, checkpoint: str) -> Dict[str, Tensor]:
        """The tensors that the parent's ``init_weights`` offers to
        ``load_state_dict``."""

    def init_weights(self) -> None:
        cfg = pretrained_cfg(self.init_cfg)
        if cfg is not None:
            checkpoint = cfg['checkpoint']
            check_state(self, self.pretrained_state(checkpoint),
                        self.load_spec(), f'{checkpoint} ({PREFIX}*)')
        super().init_weights()


def read_state(checkpoint: str) -> Dict[str, Tensor]:
    """A checkpoint's ``state_dict`` (or ``model``, or the file itself), read
    with mmengine's ``CheckpointLoader``, as both Swins do."""
    content = _load_checkpoint(checkpoint, map_location='cpu')
    for key in ('state_dict', 'model'):
        if key in content:
            return content[key]
    return content


@MODELS.register_module()
class CheckedDetSwinTransformer(CheckedSwinInit, DetSwinTransformer):
    """mmdet's ``SwinTransformer`` (same arguments) with a checked
    pretrained load."""

    def pretrained_state(self, checkpoint: str) -> Dict[str, Tensor]:
        """The ``backbone.*`` tensors without the prefix, after mmdet's
        ``swin_converter`` if ``convert_weights``."""
        state = read_state(checkpoint)
        if self.convert_weights:
            state = swin_converter(state)
        return without_prefix(under_prefix(state, PREFIX), 'module.')


@MODELS.register_module()
class CheckedSegSwinTransformer(CheckedSwinInit, SegSwinTransformer):
    """mmseg's ``SwinTransformer`` (same arguments) with a checked
    pretrained load."""

    def pretrained_state(self, checkpoint: str) -> Dict[str, Tensor]:
        """Every tensor, ``backbone.`` removed where a key has it (mmseg
        also loads prefix-free Swin checkpoints)."""
        return without_prefix(
            without_prefix(read_state(checkpoint), PREFIX), 'module.')
