"""ViTDet's simple feature pyramid: a multi-scale pyramid for an FPN-style
detector from the single stride-16 map of a plain ViT (`arXiv:2203.16527
<https://arxiv.org/abs/2203.16527>`_).

mmdet 3.3 has it only in ``projects/ViTDet`` (not installed with the
package); mmseg's ``Feature2Pyramid`` rescales several ViT layers for UPerNet
and is used from mmseg configs as it is.
"""
from typing import List, Optional, Sequence, Tuple

import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_norm_layer
from mmengine.model import BaseModule, ModuleList
from torch import Tensor, nn

from mixmim_plugin.registry import MODELS

SCALES = (4.0, 2.0, 1.0, 0.5)


def resolve_norm_cfg(norm_cfg: dict) -> dict:
    """``norm_cfg`` with its type resolved in the plugin scope (which sees
    mmpretrain's ``LN2d`` and mmengine's ``BN``/``SyncBN``/``GN``), so that
    it builds whatever the scope of the calling config (mmdet's has no
    ``LN2d``)."""
    cfg = dict(norm_cfg)
    if isinstance(cfg['type'], str):
        norm = MODELS.get(cfg['type'])
        if norm is None:
            raise KeyError(f'unknown norm type {cfg["type"]!r}')
        cfg['type'] = norm
    return cfg


@MODELS.register_module()
class SimpleFeaturePyramid(BaseModule):
    """Pyramid levels rescaled from one backbone map, each projected to
    ``out_channels`` by a 1x1 and a 3x3 convolution with norms.

    Rescaling: 4 -> two stride-2 transposed convolutions (norm and GELU
    between them, C -> C/2 -> C/4), 2 -> one (C -> C/2), 1 -> identity,
    0.5 -> 2x2 max pooling. Levels beyond the rescaled ones
    (``num_outs > len(scale_factors)``) max-pool the last level with stride
    2, as mmdet's FPN does for the RPN's P6.

    Args:
        in_channels: C of the backbone map.
        out_channels: channels of every level.
        scale_factors: scales of the levels, from fine to coarse; each one
            of 4, 2, 1, 0.5.
        num_outs: number of levels returned.
        in_index: which of the backbone's outputs is used.
        norm_cfg: norm of the convolutions and of the 4x branch
            (default: a channel-first LayerNorm, as ViTDet).
        init_cfg: initialization config.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 scale_factors: Sequence[float] = SCALES,
                 num_outs: int = 5,
                 in_index: int = -1,
                 norm_cfg: dict = dict(type='LN2d', eps=1e-6),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        bad = [s for s in scale_factors if s not in SCALES]
        if bad or not scale_factors:
            raise ValueError(f'scale_factors must be a non-empty subset of '
                             f'{SCALES}, got {list(scale_factors)}')
        if num_outs < len(scale_factors):
            raise ValueError(f'num_outs {num_outs} is smaller than the '
                             f'{len(scale_factors)} scale factors')
        norm_cfg = resolve_norm_cfg(norm_cfg)
        self.in_channels = in_channels
        self.scale_factors = list(scale_factors)
        self.num_outs = num_outs
        self.in_index = in_index
        self.rescales = ModuleList(
            [self._rescale(s, in_channels, norm_cfg) for s in scale_factors])
        self.projections = ModuleList([
            nn.Sequential(
                ConvModule(
                    self._rescaled_channels(s),
                    out_channels,
                    1,
                    norm_cfg=norm_cfg,
                    act_cfg=None),
                ConvModule(
                    out_channels,
                    out_channels,
                    3,
                    padding=1,
                    norm_cfg=norm_cfg,
                    act_cfg=None)) for s in scale_factors
        ])

    def _rescaled_channels(self, scale: float) -> int:
        """Channels after rescaling: C / 4, C / 2 or C."""
        if scale > 1:
            return self.in_channels // int(scale)
        return self.in_channels

    @staticmethod
    def _rescale(scale: float, channels: int, norm_cfg: dict) -> nn.Module:
        half = channels // 2
        if scale == 4.0:
            return nn.Sequential(
                nn.ConvTranspose2d(channels, half, 2, stride=2),
                build_norm_layer(norm_cfg, half)[1], nn.GELU(),
                nn.ConvTranspose2d(half, half // 2, 2, stride=2))
        if scale == 2.0:
            return nn.ConvTranspose2d(channels, half, 2, stride=2)
        if scale == 1.0:
            return nn.Identity()
        return nn.MaxPool2d(2, stride=2)

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        """Backbone outputs -> ``num_outs`` maps (B, out_channels, H_i, W_i).

        ``inputs[in_index]`` is the (B, C, H, W) map; level i has
        ``H * scale_factors[i]``, extra levels halve the last one.
        """
        x = self._select(inputs)
        outs: List[Tensor] = [
            project(rescale(x))
            for rescale, project in zip(self.rescales, self.projections)
        ]
        while len(outs) < self.num_outs:
            outs.append(F.max_pool2d(outs[-1], 1, stride=2))
        return tuple(outs)

    def _select(self, inputs: Sequence[Tensor]) -> Tensor:
        if isinstance(inputs, Tensor):
            inputs = (inputs, )
        try:
            x = inputs[self.in_index]
        except IndexError:
            raise IndexError(f'in_index {self.in_index} is out of range for '
                             f'{len(inputs)} backbone outputs') from None
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f'expected a (B, {self.in_channels}, H, W) map, got '
                f'{tuple(x.shape)}: set the backbone to out_type='
                "'featmap' and in_channels to its width")
        return x
