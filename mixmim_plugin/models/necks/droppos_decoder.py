"""DropPos's position decoder: classifies every token into a position."""
from typing import List, Optional, Union

from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor, nn

from mixmim_plugin.registry import MODELS
from ..utils.attention import transformer_layers


@MODELS.register_module()
class DropPosDecoder(BaseModule):
    """Linear to ``embed_dims``, transformer blocks WITHOUT position
    embedding, LayerNorm, linear to ``num_positions`` logits.

    Args:
        in_channels: encoder width.
        embed_dims: decoder width (512).
        depth: number of blocks (2).
        num_heads: attention heads (16).
        mlp_ratio: MLP hidden width over ``embed_dims``.
        num_positions: N, the classes: every position of the grid (196 for a
            ViT at 224 with 16-pixel patches).
        norm_cfg: normalization layers.
        init_cfg: initialization config.
    """

    def __init__(self,
                 in_channels: int = 768,
                 embed_dims: int = 512,
                 depth: int = 2,
                 num_heads: int = 16,
                 mlp_ratio: float = 4.,
                 num_positions: int = 196,
                 norm_cfg: dict = dict(type='LN', eps=1e-6),
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_positions < 2:
            raise ValueError(
                f'num_positions must be at least 2, got {num_positions}')
        self.num_positions = num_positions
        self.decoder_embed = nn.Linear(in_channels, embed_dims)
        self.decoder_blocks = transformer_layers(depth, embed_dims, num_heads,
                                                 mlp_ratio, norm_cfg)
        self.decoder_norm = build_norm_layer(norm_cfg, embed_dims)[1]
        self.decoder_pred = nn.Linear(embed_dims, num_positions)

    def forward(self, x: Tensor) -> Tensor:
        """(B, T, in_channels) tokens -> (B, T, num_positions) logits."""
        x = self.decoder_embed(x)
        for block in self.decoder_blocks:
            x = block(x)
        return self.decoder_pred(self.decoder_norm(x))
