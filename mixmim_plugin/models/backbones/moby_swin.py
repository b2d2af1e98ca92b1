"""Swin Transformer with BatchNorm before the MLP of every block (the MoCo v3
trick that MoBY's authors also report for Swin-T)."""
from mmpretrain.models.backbones import SwinTransformer
from torch import Tensor, nn

from mixmim_plugin.registry import MODELS
from ..utils.checked_load import LoadSpec, check_pretrained, swin_load_spec

NORMS_BEFORE_MLP = ('ln', 'bn')


@MODELS.register_module()
class TokenBatchNorm(nn.Module):
    """BatchNorm1d over the channels of (B, L, C) tokens; statistics over
    the B*L tokens. The BatchNorm is the child ``bn``, so converters to
    synchronised BatchNorm find it."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(num_features)

    def forward(self, x: Tensor) -> Tensor:
        """(B, L, C) -> (B, L, C)."""
        return self.bn(x.transpose(1, 2)).transpose(1, 2)


@MODELS.register_module()
class MoBYSwinTransformer(SwinTransformer):
    """mmpretrain's ``SwinTransformer`` whose pre-MLP norm can be BatchNorm.

    Args:
        norm_before_mlp: ``'ln'`` (LayerNorm, the standard Swin) or ``'bn'``
            (a :class:`TokenBatchNorm` replaces ``norm2`` of every block).
        **kwargs: ``SwinTransformer`` arguments.
    """

    def __init__(self, norm_before_mlp: str = 'ln', **kwargs) -> None:
        if norm_before_mlp not in NORMS_BEFORE_MLP:
            raise ValueError(f'norm_before_mlp {norm_before_mlp!r} is not '
                             f'one of {NORMS_BEFORE_MLP}')
        super().__init__(**kwargs)
        self.norm_before_mlp = norm_before_mlp
        if norm_before_mlp == 'bn':
            for stage in self.stages:
                for block in stage.blocks:
                    channels = block.norm2.normalized_shape[0]
                    block.norm2 = TokenBatchNorm(channels)

    def load_spec(self) -> LoadSpec:
        """The Swin layout's (:func:`swin_load_spec`): a checkpoint of the
        other ``norm_before_mlp`` (LayerNorm vs BatchNorm ``norm2``) does not
        fit."""
        return swin_load_spec(self.out_indices, self.num_layers)

    def init_weights(self) -> None:
        check_pretrained(self, self.load_spec())
        super().init_weights()
