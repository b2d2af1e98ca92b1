"""Loss of MixMIM's dual reconstruction."""
from typing import Dict

import torch
from mmpretrain.models.heads import MAEPretrainHead
from torch import Tensor

from mixmim_plugin.registry import MODELS


def patches_to_image(head: MAEPretrainHead, pred: Tensor,
                     images: Tensor) -> Tensor:
    """(B, L, p*p*C) pixel predictions of an MAE-style head -> (B, C, H, W)
    in ``images``' space, un-doing the per-patch normalization of
    ``images``' patches when the head uses norm-pix targets.

    ``images`` are the (B, C, H, W) images the predictions are of (their
    patch statistics de-normalize the prediction); H and W need not be
    equal.
    """
    if head.norm_pix:
        target = head.patchify(images)
        mean = target.mean(dim=-1, keepdim=True)
        std = (target.var(dim=-1, keepdim=True) + 1.e-6)**.5
        pred = pred * std + mean
    B, C, H, W = images.shape
    p = head.patch_size
    x = pred.reshape(B, H // p, W // p, p, p, C)
    return x.permute(0, 5, 1, 3, 2, 4).reshape(B, C, H, W)


@MODELS.register_module()
class MixMIMDualHead(MAEPretrainHead):
    """Un-mix the two decoder copies and compare with the images.

    Every patch of image i is predicted by the copy in which it was hidden:
    copy 1 of mixed image i where the mix mask is True (the partner's pixels
    covered it), copy 2 of the partner's mixed image elsewhere. The loss is
    the MSE against the (optionally per-patch normalized) pixels over all
    patches, as in the authors' code. The mean squared error of each copy's
    share is logged as ``mse_copy1`` / ``mse_copy2`` (no gradient).

    Args:
        loss: pixel loss config, e.g.
            ``dict(type='PixelReconstructionLoss', criterion='L2')``.
        norm_pix: normalize each target patch by its mean and variance.
        patch_size: pixels per token side (the encoder's output stride).
        in_channels: image channels.
    """

    def __init__(self,
                 loss: dict = dict(
                     type='PixelReconstructionLoss', criterion='L2'),
                 norm_pix: bool = True,
                 patch_size: int = 32,
                 in_channels: int = 3) -> None:
        super().__init__(
            loss=loss,
            norm_pix=norm_pix,
            patch_size=patch_size,
            in_channels=in_channels)

    def to_image(self, pred: Tensor, images: Tensor) -> Tensor:
        """One decoder copy (B, L, p*p*C) -> (B, C, H, W) pixels; see
        :func:`patches_to_image`."""
        return patches_to_image(self, pred, images)

    def unmix(self, pred: Tensor, mask: Tensor, partner: Tensor) -> Tensor:
        """(2B, L, D) decoder copies -> (B, L, D) prediction of each image.

        Args:
            pred: copy 1 of every image, then copy 2 of every image.
            mask: (B, L) bool mix mask (the same for both images of a pair).
            partner: (B,) index of each image's partner.
        """
        B = mask.shape[0]
        copy1, copy2 = pred[:B], pred[B:]
        return torch.where(mask.unsqueeze(-1).bool(), copy1, copy2[partner])

    def loss(self, pred: Tensor, images: Tensor, mask: Tensor,
             partner: Tensor) -> Dict[str, Tensor]:
        """Reconstruction loss.

        Args:
            pred: (2B, L, p*p*C) decoder output.
            images: (B, C, H, W) unmixed images.
            mask: (B, L) bool mix mask at the token grid.
            partner: (B,) partner index of each image.
        """
        target = self.construct_target(images)
        rec = self.unmix(pred, mask, partner).to(target.dtype)
        loss = self.loss_module(rec, target)
        with torch.no_grad():
            err = (rec - target).pow(2).mean(-1)
            m = mask.to(err.dtype)
            # masked sums, not ``err[mask]``: no data-dependent shape, so
            # the loss traces into one graph under torch.compile
            return dict(
                loss=loss,
                mse_copy1=(err * m).sum() / m.sum(),
                mse_copy2=(err * (1 - m)).sum() / (1 - m).sum())
