"""DropPos pretraining: reconstruct the dropped positions of visible
patches, optionally together with MAE's pixel reconstruction."""
from typing import Dict, List, NamedTuple, Optional, Tuple

import torch
from mmpretrain.models.selfsup import BaseSelfSupervisor
from mmpretrain.structures import DataSample
from torch import Tensor

from mixmim_plugin.registry import MODELS
from ..utils.masks import stack_masks
from ..utils.protocols import DropPosEncoder, build_backbone, derive_sizes


class PositionPrediction(NamedTuple):
    """What one DropPos forward produces, for the loss and for inspection.

    Attributes:
        tokens: (B, num_extra_tokens + n, C) encoder output.
        positions: (B, n) long, the true position of each visible patch.
        logits: (B, n, N) position logits of the visible patches.
        counted: (B, n) bool, the patch's position was dropped (scored).
    """
    tokens: Tensor
    positions: Tensor
    logits: Tensor
    counted: Tensor


@MODELS.register_module()
class DropPos(BaseSelfSupervisor):
    """DropPos (`arXiv:2309.03576 <https://arxiv.org/abs/2309.03576>`_).

    The masks come from :class:`DropPositionMask` in the data pipeline. The
    backbone's ``forward_droppos`` encodes the visible patches (its first
    ``num_extra_tokens`` outputs are extra tokens such as [CLS]), the neck
    gives every token N position logits, the head scores the tokens whose
    position was dropped. With the attentive head, a no-gradient pass of the
    whole images first gives the [CLS]-to-patch similarities.

    Multi-task variant: with ``aux_neck`` (mmpretrain's
    ``MAEPretrainDecoder``) and ``aux_head`` (``MAEPretrainHead``) the same
    encoder output also reconstructs the removed patches' pixels; the total
    is ``pos_weight * loss_pos + loss_mae``.

    The neck's ``in_channels`` / ``num_positions`` and the head's ``grid``
    (and in the multi-task variant the pixel decoder's ``num_patches`` /
    ``patch_size`` / ``embed_dim`` and the pixel head's ``patch_size``)
    follow from the backbone; a config need not state them, and one that
    states them differently is an error.

    Args:
        backbone: a :class:`~mixmim_plugin.models.utils.protocols.
            DropPosEncoder` (:class:`DropPosViT`, :class:`DropPosMixMIM`).
        neck: :class:`DropPosDecoder`.
        head: :class:`DropPosHead`.
        aux_neck: MAE pixel decoder for the multi-task variant.
        aux_head: MAE pixel loss for the multi-task variant.
        pos_weight: weight of the position loss (0.05 for ViT-B, 0.1 for
            ViT-L in the multi-task variant; 1 alone).
        data_preprocessor: usually ``SelfSupDataPreprocessor``.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 aux_neck: Optional[dict] = None,
                 aux_head: Optional[dict] = None,
                 pos_weight: float = 1.,
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        backbone = build_backbone(backbone, DropPosEncoder, 'DropPos')
        h, w = backbone.position_grid
        neck = derive_sizes(
            neck,
            'neck',
            in_channels=backbone.output_channels,
            num_positions=h * w)
        head = derive_sizes(head, 'head', grid=(h, w))
        super().__init__(backbone, neck, head, None, pretrained,
                         data_preprocessor, init_cfg)
        if pos_weight <= 0:
            raise ValueError(f'pos_weight must be positive, got {pos_weight}')
        self.pos_weight = pos_weight
        if (aux_neck is None) != (aux_head is None):
            raise ValueError('the multi-task variant needs both aux_neck and '
                             'aux_head')
        self.with_mae = aux_neck is not None
        if self.with_mae:
            if self.backbone.num_extra_tokens != 1:
                raise ValueError('the MAE pixel decoder expects a [CLS] '
                                 'token first: use a ViT backbone')
            patch = self.backbone.patch_embed.projection.stride[0]
            self.aux_neck = MODELS.build(
                derive_sizes(
                    aux_neck,
                    'aux_neck',
                    num_patches=h * w,
                    patch_size=patch,
                    embed_dim=self.backbone.output_channels))
            self.aux_head = MODELS.build(
                derive_sizes(aux_head, 'aux_head', patch_size=patch))

    def extract_feat(self, inputs: Tensor) -> Tuple[Tensor, ...]:
        """Encoder features of whole images."""
        return self.backbone(inputs)

    def loss(self, inputs: Tensor, data_samples: List[DataSample],
             **kwargs) -> Dict[str, Tensor]:
        """Losses (``loss_pos``, ``loss_mae`` in the multi-task variant) and
        ``acc_pos`` for (B, 3, H, W) images."""
        patch_mask, pos_mask = stack_masks(data_samples,
                                           ['patch_mask', 'pos_mask'],
                                           'DropPositionMask', inputs.device)
        similarity = None
        if self.head.attentive:
            with torch.no_grad():
                similarity = self.backbone.patch_similarity(inputs)
        out = self.predict_positions(inputs, patch_mask, pos_mask)
        losses = self.head.loss(out.logits, out.positions, out.counted,
                                similarity)
        losses['loss_pos'] = self.pos_weight * losses['loss_pos']
        if self.with_mae:
            losses['loss_mae'] = self.mae_loss(inputs, out.tokens, patch_mask)
        return losses

    def predict_positions(self, inputs: Tensor, patch_mask: Tensor,
                          pos_mask: Tensor) -> PositionPrediction:
        """Encode the visible patches and classify their positions: the
        forward the loss and inspection share.

        Args:
            inputs: (B, 3, H, W) images.
            patch_mask: (B, h, w) bool, True where a patch is removed.
            pos_mask: (B, h, w) bool, True where a visible patch loses its
                position.
        """
        tokens, positions = self.backbone.forward_droppos(
            inputs, patch_mask, pos_mask)
        logits = self.neck(tokens)[:, self.backbone.num_extra_tokens:]
        counted = pos_mask.flatten(1).gather(1, positions)
        return PositionPrediction(tokens, positions, logits, counted)

    def mae_loss(self, inputs: Tensor, tokens: Tensor,
                 patch_mask: Tensor) -> Tensor:
        """MAE's pixel loss on the removed patches.

        Args:
            inputs: (B, 3, H, W) images.
            tokens: (B, 1 + n, C) encoder output, visible patches in raster
                order.
            patch_mask: (B, h, w) bool, True where removed.
        """
        removed = patch_mask.flatten(1)
        pred = self.aux_neck(tokens, self.restore_index(removed))
        return self.aux_head.loss(pred, inputs, removed.float())

    @staticmethod
    def restore_index(removed: Tensor) -> Tensor:
        """MAE's ``ids_restore`` for tokens ordered as the encoder returns
        them: the visible patches in raster order, then (in the decoder) the
        removed ones in raster order.

        Args:
            removed: (B, L) bool, True where a patch is removed.

        Returns:
            (B, L) long: where each raster patch sits in that order.
        """
        order = torch.argsort(removed.int(), dim=1, stable=True)
        return torch.argsort(order, dim=1)
