"""DropPos checkpoints: the authors' layout <-> the plugin's.

The authors' ``DropPositionMaskedAutoEncoderViT`` (Haochen-Wang409/DropPos,
``models_DropPos_mae.py``, timm style, under ``'model'``):

* encoder: MAE's ViT names (``cls_token``, ``pos_embed``,
  ``patch_embed.proj``, ``blocks.i.*``, ``norm``) plus ``mask_pos_token``;
* position decoder: ``decoder_embed``, ``decoder_blocks.i.*``,
  ``decoder_norm``, ``decoder_pred`` (no position embedding);
* multi-task variant: an MAE pixel decoder ``aux_decoder_embed``,
  ``aux_decoder_pos_embed``, ``mask_token``, ``aux_decoder_blocks.i.*``,
  ``aux_decoder_norm``, ``aux_decoder_pred``.

The plugin's :class:`~mixmim_plugin.models.DropPos`: ``backbone.*``
(:class:`DropPosViT`, mmpretrain's ViT names plus ``mask_pos_token``),
``neck.*`` (:class:`DropPosDecoder`, whose norm keeps the name
``decoder_norm``) and, for the multi-task variant, ``aux_neck.*``
(mmpretrain's ``MAEPretrainDecoder``, norm ``ln1``). The authors' code has
no hierarchical DropPos, so :class:`DropPosMixMIM` has no counterpart. A
fine-tuned DropPos ViT is a plain ViT: see :mod:`.mae`.
"""
from .rules import (LayoutError, StateDict, decoder_rules, pixel_decoder_rules,
                    rename_state, require_keys, unwrap, vit_rules)

AUTHORS = "authors' DropPos"
PLUGIN = 'plugin DropPos'
DROPPOS_RULES = [
    *vit_rules('', 'backbone.'),
    ('mask_pos_token', 'backbone.mask_pos_token'),
    *decoder_rules('decoder_', 'neck.', norm='decoder_norm.'),
    *pixel_decoder_rules('aux_decoder_', 'aux_neck.'),
]


def droppos_to_plugin(checkpoint: dict) -> StateDict:
    """The authors' DropPos pretraining checkpoint (plain or multi-task) ->
    the plugin's :class:`DropPos` layout.

    Raises:
        LayoutError: no DropPos encoder (e.g. an MAE checkpoint: no
            ``mask_pos_token``) or keys DropPos does not have.
    """
    state = unwrap(checkpoint)
    require_keys(state, ['patch_embed.proj.weight', 'mask_pos_token'], AUTHORS)
    return rename_state(state, DROPPOS_RULES, AUTHORS)


def plugin_to_droppos(checkpoint: dict) -> StateDict:
    """The plugin's :class:`DropPos` (ViT) layout -> the authors'."""
    state = unwrap(checkpoint)
    require_keys(state, [
        'backbone.patch_embed.projection.weight', 'backbone.mask_pos_token'
    ], PLUGIN)
    if 'backbone.cls_token' not in state:
        raise LayoutError(
            f'not a {PLUGIN} ViT checkpoint: no backbone.cls_token (a '
            'DropPosMixMIM encoder has no counterpart in the authors\' code)')
    return rename_state(state, DROPPOS_RULES, PLUGIN, reverse=True)
