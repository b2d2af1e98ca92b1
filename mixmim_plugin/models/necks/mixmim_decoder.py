"""MixMIM's decoder: two complementary copies of the mixed tokens, each
asked to fill in the positions its image does not own."""
from typing import Optional

import torch
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from mmpretrain.models.utils import build_2d_sincos_position_embedding
from torch import Tensor, nn

from mixmim_plugin.registry import MODELS
from ..utils.attention import transformer_layers
from ..utils.init import init_linear_and_norm


@MODELS.register_module()
class MixMIMDualDecoder(BaseModule):
    """Decoder for dual reconstruction.

    The encoder tokens of a mixed image are projected to the decoder width
    and duplicated: copy 1 keeps the tokens of the image itself and puts the
    mask token where the partner's tokens were (mix mask True); copy 2 keeps
    the partner's tokens and masks the rest. Both copies (stacked on the
    batch) get a fixed sin-cos position embedding and pass through transformer
    blocks, a norm and a linear prediction of each token's pixels.

    Args:
        num_patches: tokens of the encoder's last stage (49 at 224/32).
        in_channels: width of the encoder's last stage.
        patch_size: pixels per token side (the encoder's output stride).
        in_chans: image channels.
        decoder_embed_dim: decoder width.
        decoder_depth: decoder blocks.
        decoder_num_heads: decoder attention heads.
        mlp_ratio: MLP hidden width over the decoder width.
        norm_cfg: normalization layers. The default is the authors'
            ``nn.LayerNorm`` (eps 1e-5), with which the released weights were
            trained; mmpretrain's neck uses ``dict(type='LN', eps=1e-6)``.
    """

    def __init__(self,
                 num_patches: int = 49,
                 in_channels: int = 1024,
                 patch_size: int = 32,
                 in_chans: int = 3,
                 decoder_embed_dim: int = 512,
                 decoder_depth: int = 8,
                 decoder_num_heads: int = 16,
                 mlp_ratio: float = 4.,
                 norm_cfg: dict = dict(type='LN', eps=1e-5),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        side = int(round(num_patches**.5))
        if side * side != num_patches:
            raise ValueError(
                f'num_patches must be a square number, got {num_patches}')
        self.num_patches = num_patches
        self.patch_size = patch_size
        self.decoder_embed = nn.Linear(in_channels, decoder_embed_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_embed_dim))
        self.register_buffer(
            'decoder_pos_embed',
            build_2d_sincos_position_embedding(side, decoder_embed_dim))
        self.decoder_blocks = transformer_layers(decoder_depth,
                                                 decoder_embed_dim,
                                                 decoder_num_heads, mlp_ratio,
                                                 norm_cfg)
        self.decoder_norm = build_norm_layer(norm_cfg, decoder_embed_dim)[1]
        self.decoder_pred = nn.Linear(decoder_embed_dim,
                                      patch_size**2 * in_chans)

    def init_weights(self) -> None:
        super().init_weights()
        if (isinstance(self.init_cfg, dict)
                and self.init_cfg.get('type') == 'Pretrained'):
            return
        nn.init.normal_(self.mask_token, std=.02)
        self.apply(init_linear_and_norm)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """Decode both copies.

        Args:
            x: (B, L, C) encoder tokens of the mixed images.
            mask: (B, L) bool, True where a token came from the partner.

        Returns:
            (2B, L, patch_size**2 * in_chans): copy 1 of every image, then
            copy 2 of every image.
        """
        B, L, _ = x.shape
        if L != self.num_patches:
            raise ValueError(f'decoder built for {self.num_patches} tokens, '
                             f'got {L}')
        x = self.decoder_embed(x)
        token = self.mask_token.to(x.dtype)
        m = mask.reshape(B, L, 1).bool()
        copy1 = torch.where(m, token, x)
        copy2 = torch.where(m, x, token)
        x = torch.cat([copy1, copy2]) + self.decoder_pos_embed.to(x.dtype)
        for block in self.decoder_blocks:
            x = block(x)
        return self.decoder_pred(self.decoder_norm(x))
