"""MixMIM on a plain ViT: mmpretrain's ``VisionTransformer`` plus a
``forward_mixed`` that encodes mixed images with attention restricted to each
source image.

The parameters and state-dict layout are the parent's, so mmpretrain / MAE
ViT checkpoints load and fine-tuning uses the normal ``forward``.
"""
from typing import Dict, List, Tuple

import torch
from mmpretrain.models.backbones import VisionTransformer
from mmpretrain.models.utils import resize_pos_embed
from torch import Tensor

from mixmim_plugin.registry import MODELS
from ..utils.attention import use_plugin_attention
from ..utils.checked_load import VIT_LOAD_SPEC, LoadSpec, check_pretrained
from ..utils.masks import check_mix_units, upsample_mask
from ..utils.protocols import square_stride


@MODELS.register_module()
class MixMIMViT(VisionTransformer):
    """A ViT that can be pretrained with MixMIM (arXiv:2205.13137, the
    paper's plain-ViT experiment).

    Arguments and ``forward`` are those of mmpretrain's
    :class:`VisionTransformer`. :meth:`forward_mixed` encodes mixed images:
    a token attends only to tokens of its own source image. The tokens of
    each image are sorted by source (a stable argsort of the mask), so the
    masked attention runs as two dense, unmasked attentions over the two
    groups, each through the unmodified transformer layers (all other
    operations are token-wise; without relative position bias, attention
    does not depend on the token order).

    [CLS]: each source group gets its own copy of the class token (with its
    position embedding), which attends to and is attended by that group
    only, so no token ever links the two images. Every patch token thus sees
    one class token, as in ``forward``; both copies are dropped at the end.

    The layers' attention is the plugin's
    :class:`~mixmim_plugin.models.utils.attention.Attention` (its backend
    policy). mmpretrain's ViT has no gradient checkpointing, so neither has
    this.
    """
    # the group lengths are data (counts of the mask), so forward_mixed
    # cannot trace into one static graph (MixMIMPretrainer.compile_targets)
    static_mixed_shapes = False

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        use_plugin_attention(self.layers)

    def load_spec(self) -> LoadSpec:
        """See :data:`VIT_LOAD_SPEC`."""
        return VIT_LOAD_SPEC

    def init_weights(self) -> None:
        check_pretrained(self, self.load_spec())
        super().init_weights()

    @property
    def output_channels(self) -> int:
        """Channels of the tokens of :meth:`forward_mixed`."""
        return self.embed_dims

    @property
    def output_grid(self) -> Tuple[int, int]:
        """(h, w) patch grid at ``img_size``."""
        return tuple(self.patch_resolution)

    @property
    def output_stride(self) -> int:
        """Pixels per output token side (the patch size)."""
        conv = self.patch_embed.projection
        return square_stride(conv.kernel_size, conv.stride, 'patches')

    def forward_mixed(self, x: Tensor, mix_mask: Tensor) -> Tensor:
        """Encode mixed images with per-source attention.

        Args:
            x: (B, 3, H, W) mixed images; H and W multiples of the unit.
            mix_mask: (B, h, w) bool unit mask, True where the unit shows
                the partner image; a unit must cover whole patches.

        Returns:
            (B, (H / p) * (W / p), C) patch tokens in raster order, after
            the final norm (p: patch size).
        """
        check_mix_units(x, mix_mask, self.output_stride, type(self).__name__)
        tokens, hw = self.patch_embed(x)
        groups = upsample_mask(mix_mask, hw).flatten(1)
        pos = resize_pos_embed(
            self.pos_embed,
            self.patch_resolution,
            hw,
            mode=self.interpolate_mode,
            num_extra_tokens=self.num_extra_tokens)
        tokens = tokens + pos[:, self.num_extra_tokens:]
        seqs, slots = self._split_by_source(tokens, groups)
        seqs = self._encode(seqs, pos)
        B, L, C = tokens.shape
        out = seqs[0].new_zeros(B * L, C)
        for seq, slot in zip(seqs, slots):
            out = out.index_put((slot.flatten(), ), seq.reshape(-1, C))
        return out.view(B, L, C)

    @staticmethod
    def _split_by_source(tokens: Tensor,
                         groups: Tensor) -> Tuple[List[Tensor], List[Tensor]]:
        """Cut the (B, L, C) tokens into per-source sequences.

        Samples with the same number of partner tokens are batched together
        (one batch for masks of a fixed ratio; ``ratio_range`` masks give
        several smaller ones, still exact and unmasked).

        Returns:
            the (b, n, C) sequences and, for each, its (b, n) flat indices
            ``sample * L + token`` into the (B * L) raster tokens.
        """
        B, L, C = tokens.shape
        flat_tokens = tokens.reshape(B * L, C)
        counts = groups.sum(1)
        seqs, slots = [], []
        for count in counts.unique().tolist():
            rows = torch.nonzero(counts == count).squeeze(1)
            order = torch.argsort(
                groups[rows].to(torch.int8), dim=1, stable=True)
            flat = order + rows.unsqueeze(1) * L
            for start, end in ((0, L - count), (L - count, L)):
                if end > start:
                    slot = flat[:, start:end]
                    picked = torch.index_select(flat_tokens, 0, slot.flatten())
                    slots.append(slot)
                    seqs.append(picked.view(*slot.shape, C))
        return seqs, slots

    def _encode(self, seqs: List[Tensor], pos: Tensor) -> List[Tensor]:
        """Run each (b, n, C) single-source sequence through the encoder
        with its own class token; sequences of one length share a batch.
        Returns the encoded patch tokens, same shapes."""
        if self.cls_token is not None:
            cls = self.cls_token + pos[:, :1]
            seqs = [
                torch.cat([cls.expand(len(s), -1, -1), s], dim=1) for s in seqs
            ]
        by_length: Dict[int, List[int]] = {}
        for i, seq in enumerate(seqs):
            by_length.setdefault(seq.shape[1], []).append(i)
        encoded = [None] * len(seqs)
        for members in by_length.values():
            batch = torch.cat([seqs[i] for i in members])
            batch = self.pre_norm(self.drop_after_pos(batch))
            for layer in self.layers:
                batch = layer(batch)
            if self.final_norm:
                batch = self.ln1(batch)
            parts = batch.split([len(seqs[i]) for i in members])
            for i, part in zip(members, parts):
                encoded[i] = part[:, self.num_extra_tokens:]
        return encoded
