"""MixMIM pretraining: mix pairs of images, encode the mixed images with
masked self-attention, reconstruct both originals."""
from typing import Dict, List, NamedTuple, Optional, Tuple

import torch
from mmengine.logging import print_log
from mmpretrain.models.selfsup import BaseSelfSupervisor
from mmpretrain.structures import DataSample
from torch import Tensor

from mixmim_plugin.registry import MODELS
from ..utils.masks import stack_masks, upsample_mask
from ..utils.protocols import MixedEncoder, build_backbone, derive_sizes

MASK_MODES = ('per_pair', 'per_batch')
ODD_BATCH = ('drop', 'error')


class DualPrediction(NamedTuple):
    """What one MixMIM forward produces, for the loss and for inspection.

    Attributes:
        mixed: (B, C, H, W) mixed images.
        partner: (B,) partner index of each image.
        token_mask: (B, L) bool mix mask at the decoder's token grid.
        pred: (2B, L, p*p*C) the decoder's two copies.
    """
    mixed: Tensor
    partner: Tensor
    token_mask: Tensor
    pred: Tensor


@MODELS.register_module()
class MixMIMPretrainer(BaseSelfSupervisor):
    """MixMIM (`arXiv:2205.13137 <https://arxiv.org/abs/2205.13137>`_).

    Image i is mixed with its partner B-1-i (the authors' pairing): where the
    mix mask is True the mixed image shows the partner's pixels. Both images
    of a pair share one mask, so each image is fully covered by the two mixed
    images it appears in. The backbone encodes the mixed images with
    ``forward_mixed`` (attention restricted to each source image), the neck
    decodes two complementary copies, the head un-mixes and scores them.

    The neck's ``in_channels`` / ``num_patches`` / ``patch_size`` and the
    head's ``patch_size`` follow from the backbone (its output channels,
    output grid at its ``img_size`` and output stride); a config need not
    state them, and one that states them differently is an error.

    Args:
        backbone: a :class:`~mixmim_plugin.models.utils.protocols.
            MixedEncoder` (``forward_mixed``, ``output_stride``,
            ``output_channels``, ``output_grid``).
        neck: the dual decoder.
        head: the dual reconstruction head.
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
        backbone = build_backbone(backbone, MixedEncoder, 'MixMIMPretrainer')
        (h, w), stride = backbone.output_grid, backbone.output_stride
        neck = derive_sizes(
            neck,
            'neck',
            in_channels=backbone.output_channels,
            num_patches=h * w,
            patch_size=stride)
        head = derive_sizes(head, 'head', patch_size=stride)
        super().__init__(backbone, neck, head, None, pretrained,
                         data_preprocessor, init_cfg)
        self.mask_mode = mask_mode
        self.odd_batch = odd_batch

    def extract_feat(self, inputs: Tensor) -> Tuple[Tensor, ...]:
        """Encoder features of unmixed images."""
        return self.backbone(inputs)

    @property
    def compile_targets(self) -> Tuple[str, ...]:
        """What :class:`~mixmim_plugin.engine.FaultTolerantRunner` compiles
        with ``fullgraph=True`` under the config's ``compile`` key: the
        training forward, which traces into one graph (tests/test_compile.py)
        unless the backbone's ``forward_mixed`` has data-dependent shapes
        (``static_mixed_shapes = False``: MixMIM on ViT); then mmengine
        compiles ``train_step``, breaking the graph where it must."""
        static = getattr(self.backbone, 'static_mixed_shapes', True)
        return ('forward_train', ) if static else ()

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

    # ---------------------------------------------------------------- losses
    def mix(self, inputs: Tensor, masks: Tensor) -> Tuple[Tensor, Tensor]:
        """Mixed images and partner index for (B, C, H, W) inputs and paired
        (B, h, w) masks."""
        partner = self.partner_index(inputs.shape[0], inputs.device)
        pixels = upsample_mask(masks, inputs.shape[-2:]).unsqueeze(1)
        return torch.where(pixels, inputs[partner], inputs), partner

    def dual_prediction(self, inputs: Tensor, masks: Tensor) -> DualPrediction:
        """Mix, encode and decode: the forward the loss and
        :meth:`reconstruct` share.

        Args:
            inputs: (B, C, H, W) images, B even.
            masks: (B, h, w) bool unit masks, already paired.
        """
        mixed, partner = self.mix(inputs, masks)
        latent = self.backbone.forward_mixed(mixed, masks)
        side = self.head.patch_size
        grid = (inputs.shape[-2] // side, inputs.shape[-1] // side)
        token_mask = upsample_mask(masks, grid).flatten(1)
        return DualPrediction(mixed, partner, token_mask,
                              self.neck(latent, token_mask))

    def forward_train(self, inputs: Tensor,
                      masks: Tensor) -> Dict[str, Tensor]:
        """Losses for images and their (B, h, w) bool unit masks (already
        paired: an image and its partner share a mask)."""
        out = self.dual_prediction(inputs, masks)
        return self.head.loss(out.pred, inputs, out.token_mask, out.partner)

    def loss(self, inputs: Tensor, data_samples: List[DataSample],
             **kwargs) -> Dict[str, Tensor]:
        masks, = stack_masks(data_samples, ['mix_mask'], 'MixMaskGenerator',
                             inputs.device)
        inputs, masks = self.even_batch(inputs, masks)
        return self.forward_train(inputs, self.pair_masks(masks))

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
        out = self.dual_prediction(inputs, masks)
        pred, partner, B = out.pred.float(), out.partner, inputs.shape[0]
        copy1 = self.head.to_image(pred[:B], inputs)
        # copy 2 of mixed image i predicts its partner's hidden pixels
        copy2 = self.head.to_image(pred[B:], inputs[partner])
        pixels = upsample_mask(masks, inputs.shape[-2:]).unsqueeze(1)
        return dict(
            mixed=out.mixed,
            mask=pixels,
            rec_self=torch.where(pixels, copy1, inputs),
            rec_partner=torch.where(pixels, inputs[partner], copy2))
