"""MixMIM pretraining: mix pairs of images, encode the mixed images with
masked self-attention, reconstruct both originals."""
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.logging import print_log
from mmpretrain.models.selfsup import BaseSelfSupervisor
from mmpretrain.structures import DataSample
from torch import Tensor

from mixmim_plugin.registry import MODELS

MASK_MODES = ('per_pair', 'per_batch')
ODD_BATCH = ('drop', 'error')


@MODELS.register_module()
class MixMIMPretrainer(BaseSelfSupervisor):
    """MixMIM (`arXiv:2205.13137 <https://arxiv.org/abs/2205.13137>`_).

    Image i is mixed with its partner B-1-i (the authors' pairing): where the
    mix mask is True the mixed image shows the partner's pixels. Both images
    of a pair share one mask, so each image is fully covered by the two mixed
    images it appears in. The backbone encodes the mixed images with
    ``forward_mixed`` (attention restricted to each source image), the neck
    decodes two complementary copies, the head un-mixes and scores them.

    Args:
        backbone: an encoder with ``forward_mixed(x, mix_mask)`` returning
            (B, L, C) tokens at its output stride.
        neck: the dual decoder.
        head: the dual reconstruction head; its ``patch_size`` must equal the
            backbone's ``output_stride`` (checked when the backbone has it).
        mask_mode: ``'per_pair'``: each pair uses the mask drawn for its
            first image (per-sample masks from :class:`MixMaskGenerator`);
            ``'per_batch'``: every pair uses the first sample's mask (the
            authors' one mask per device batch).
        odd_batch: what to do with a batch of odd size, whose middle image
            has no partner: ``'drop'`` the last image with a warning, or
            ``'error'``.
        data_preprocessor: usually ``SelfSupDataPreprocessor``.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 mask_mode: str = 'per_pair',
                 odd_batch: str = 'drop',
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if mask_mode not in MASK_MODES:
            raise ValueError(
                f'mask_mode {mask_mode!r} is not one of {MASK_MODES}')
        if odd_batch not in ODD_BATCH:
            raise ValueError(
                f'odd_batch {odd_batch!r} is not one of {ODD_BATCH}')
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            pretrained=pretrained,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        if not hasattr(self.backbone, 'forward_mixed'):
            raise TypeError(f'{type(self.backbone).__name__} has no '
                            'forward_mixed(); it cannot encode mixed images')
        stride = getattr(self.backbone, 'output_stride', None)
        if stride is not None and stride != self.head.patch_size:
            raise ValueError(
                f'head patch_size {self.head.patch_size} differs from the '
                f'backbone output stride {stride}: each decoder token must '
                'predict the pixels of one backbone token')
        self.mask_mode = mask_mode
        self.odd_batch = odd_batch

    def extract_feat(self, inputs: Tensor) -> Tuple[Tensor, ...]:
        """Encoder features of unmixed images."""
        return self.backbone(inputs)

    # ---------------------------------------------------------------- pairing
    @staticmethod
    def partner_index(batch: int, device=None) -> Tensor:
        """(B,) partner of each image: B-1-i."""
        return torch.arange(batch - 1, -1, -1, device=device)

    def pair_masks(self, masks: Tensor) -> Tensor:
        """Give both images of a pair the same (B, h, w) mask."""
        if self.mask_mode == 'per_batch':
            return masks[:1].expand_as(masks)
        B = masks.shape[0]
        first = torch.minimum(
            torch.arange(B, device=masks.device),
            self.partner_index(B, masks.device))
        return masks[first]

    def even_batch(self, inputs: Tensor,
                   masks: Tensor) -> Tuple[Tensor, Tensor]:
        """Apply the odd-batch policy; returns an even batch."""
        B = inputs.shape[0]
        if B < 2:
            raise ValueError(f'MixMIM mixes pairs of images; a batch of {B} '
                             'image has no pair')
        if B % 2 == 0:
            return inputs, masks
        if self.odd_batch == 'error':
            raise ValueError(
                f'odd batch of {B} images: the middle image would be mixed '
                'with itself. Use an even batch size (and drop_last=True in '
                "the sampler), or odd_batch='drop'")
        print_log(
            f'MixMIM got an odd batch of {B} images; dropping the last one '
            'so that no image is mixed with itself', 'current', 30)
        return inputs[:-1], masks[:-1]

    @staticmethod
    def upsample(mask: Tensor, size: Tuple[int, int]) -> Tensor:
        """Nearest upsampling of a (B, h, w) mask to (B, H, W)."""
        B, h, w = mask.shape
        H, W = size
        if H % h or W % w:
            raise ValueError(f'a {h}x{w} mix-mask grid does not divide '
                             f'{H}x{W}')
        return mask.repeat_interleave(H // h, 1).repeat_interleave(W // w, 2)

    # ---------------------------------------------------------------- losses
    def mix(self, inputs: Tensor, masks: Tensor) -> Tuple[Tensor, Tensor]:
        """Mixed images and partner index for (B, C, H, W) inputs and paired
        (B, h, w) masks."""
        partner = self.partner_index(inputs.shape[0], inputs.device)
        pixels = self.upsample(masks, inputs.shape[-2:]).unsqueeze(1)
        return torch.where(pixels, inputs[partner], inputs), partner

    def forward_train(self, inputs: Tensor,
                      masks: Tensor) -> Dict[str, Tensor]:
        """Losses for images and their (B, h, w) bool unit masks (already
        paired: an image and its partner share a mask)."""
        mixed, partner = self.mix(inputs, masks)
        latent = self.backbone.forward_mixed(mixed, masks)
        side = self.head.patch_size
        grid = (inputs.shape[-2] // side, inputs.shape[-1] // side)
        token_mask = self.upsample(masks, grid).flatten(1)
        pred = self.neck(latent, token_mask)
        return self.head.loss(pred, inputs, token_mask, partner)

    def loss(self, inputs: Tensor, data_samples: List[DataSample],
             **kwargs) -> Dict[str, Tensor]:
        masks = self.masks_from(data_samples, inputs.device)
        inputs, masks = self.even_batch(inputs, masks)
        return self.forward_train(inputs, self.pair_masks(masks))

    @staticmethod
    def masks_from(data_samples: List[DataSample], device) -> Tensor:
        """Stack the ``mix_mask`` of the data samples to (B, h, w) bool."""
        if not data_samples or 'mix_mask' not in data_samples[0]:
            raise KeyError("the data samples carry no 'mix_mask': add "
                           "dict(type='MixMaskGenerator') to the pipeline and "
                           "PackInputs(algorithm_keys=['mix_mask'])")
        return torch.stack([
            torch.as_tensor(s.mix_mask).bool() for s in data_samples
        ]).to(device)

    @torch.no_grad()
    def reconstruct(self, inputs: Tensor, masks: Tensor) -> Dict[str, Tensor]:
        """Dual reconstruction of each mixed image, for inspection.

        Args:
            inputs: (B, C, H, W) normalized images (even B).
            masks: (B, h, w) bool unit masks; paired as in training.

        Returns:
            All (B, C, H, W) in the input space except ``mask``:
            ``mixed`` (mixed image i), ``mask`` ((B, 1, H, W) bool, True
            where mixed image i shows its partner), ``rec_self`` (image i
            recovered from mixed image i: its visible pixels, predictions
            where the partner covered it) and ``rec_partner`` (the partner
            recovered from the same mixed image i). Predictions are
            de-normalized per patch when the head uses norm-pix targets.
        """
        masks = self.pair_masks(masks)
        mixed, partner = self.mix(inputs, masks)
        latent = self.backbone.forward_mixed(mixed, masks)
        side = self.head.patch_size
        grid = (inputs.shape[-2] // side, inputs.shape[-1] // side)
        token_mask = self.upsample(masks, grid).flatten(1)
        pred = self.neck(latent, token_mask).float()
        B = inputs.shape[0]
        copy1 = self._to_image(pred[:B], inputs, grid)
        # copy 2 of mixed image i predicts its partner's hidden pixels
        copy2 = self._to_image(pred[B:], inputs[partner], grid)
        pixels = self.upsample(masks, inputs.shape[-2:]).unsqueeze(1)
        return dict(
            mixed=mixed,
            mask=pixels,
            rec_self=torch.where(pixels, copy1, inputs),
            rec_partner=torch.where(pixels, inputs[partner], copy2))

    def _to_image(self, pred: Tensor, images: Tensor,
                  grid: Tuple[int, int]) -> Tensor:
        """(B, L, p*p*C) predictions -> (B, C, H, W), un-doing the per-patch
        normalization of ``images``' patches when ``norm_pix``."""
        if self.head.norm_pix:
            target = self.head.patchify(images)
            mean = target.mean(dim=-1, keepdim=True)
            std = (target.var(dim=-1, keepdim=True) + 1.e-6)**.5
            pred = pred * std + mean
        p, C = self.head.patch_size, images.shape[1]
        B = pred.shape[0]
        x = pred.reshape(B, grid[0], grid[1], p, p, C)
        return x.permute(0, 5, 1, 3, 2, 4).reshape(B, C, grid[0] * p,
                                                   grid[1] * p)
