"""MAE checkpoints: the authors' layout <-> mmpretrain's.

The plugin trains MAE with mmpretrain's own modules (``MAE``, ``MAEViT``,
``MAEPretrainDecoder``, ``MAEPretrainHead``; see ``configs/mae``), so an
mmpretrain MAE checkpoint already is a plugin checkpoint and needs no
conversion. What needs converting is the authors' layout
(facebookresearch/mae, timm style, usually under ``'model'``):

* encoder: ``cls_token``, ``pos_embed``, ``patch_embed.proj``,
  ``blocks.i.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}``,
  ``norm``; the released ``mae_pretrain_vit_*.pth`` hold the encoder only;
* decoder (``models_mae.MaskedAutoencoderViT``): ``mask_token``,
  ``decoder_pos_embed``, ``decoder_embed``, ``decoder_blocks.i.*``,
  ``decoder_norm``, ``decoder_pred``;
* fine-tuned (``models_vit.VisionTransformer`` with global pooling):
  ``fc_norm`` instead of ``norm``, and the classifier ``head``.

mmpretrain's names: ``backbone.*`` (``patch_embed.projection``,
``layers.i.{ln1, attn, ln2, ffn.layers.0.0, ffn.layers.1}``, final norm
``ln1``, pooled norm ``ln2``), ``neck.*`` (decoder norm ``neck.ln1``) and
``head.fc.*`` (``LinearClsHead``). A fine-tuned DropPos ViT is the same
plain ViT and converts the same way.
"""
from .rules import (StateDict, pixel_decoder_rules, reject_keys, rename_state,
                    require_keys, unwrap, vit_rules)

AUTHORS = "authors' MAE"
MMPRETRAIN = 'mmpretrain MAE'
MAE_RULES = [
    *vit_rules('', 'backbone.'),
    *pixel_decoder_rules('decoder_', 'neck.'),
    ('head.', 'head.fc.'),
]
_DROPPOS_HINT = ('a DropPos checkpoint: convert it with '
                 'mixmim_plugin.converters.droppos_to_plugin')


def mae_to_mmpretrain(checkpoint: dict) -> StateDict:
    """The authors' MAE (pretraining, encoder-only or fine-tuned) ->
    mmpretrain's MAE / ``ImageClassifier`` layout, which the plugin uses.

    Raises:
        LayoutError: not the authors' layout, a DropPos checkpoint, or keys
            that MAE does not have.
    """
    state = unwrap(checkpoint)
    require_keys(state, ['patch_embed.proj.weight'], AUTHORS)
    reject_keys(state, ['mask_pos_token'], AUTHORS, _DROPPOS_HINT)
    return rename_state(state, MAE_RULES, AUTHORS)


def mmpretrain_to_mae(checkpoint: dict) -> StateDict:
    """mmpretrain's (= the plugin's) MAE layout -> the authors'."""
    state = unwrap(checkpoint)
    require_keys(state, ['backbone.patch_embed.projection.weight'], MMPRETRAIN)
    reject_keys(state, ['backbone.mask_pos_token'], MMPRETRAIN,
                'a plugin DropPos checkpoint')
    return rename_state(state, MAE_RULES, MMPRETRAIN, reverse=True)
