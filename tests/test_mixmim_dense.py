"""The MixMIM encoder as a dense-prediction / fine-tuning backbone:
checkpoints of other sizes and layouts, global blocks, clear load errors."""
import logging

import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope

from mixmim_plugin.registry import MODELS

TINY = dict(embed_dims=32, depths=[1, 1, 3, 1], num_heads=[1, 2, 4, 8])


def encoder(init=True, **kwargs):
    cfg = dict(type='MixMIMEncoder', arch=TINY, **kwargs)
    with DefaultScope.overwrite_default_scope('mixmim_plugin'):
        model = MODELS.build(cfg)
    if not init:
        return model
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel('ERROR')
    model.init_weights()
    logger.setLevel(level)
    return model


def test_global_blocks_switch_layouts_correctly():
    """A stage of window, global, window blocks equals running each block on
    its own layout by hand."""
    from mixmim_plugin.models.utils import build_layout
    model = encoder(
        img_size=64, window_size=[4, 4, 2, 1], global_blocks=[[], [], [1],
                                                              []]).eval()
    stage = model.layers[2]
    assert stage.block_windows == [2, None, 2]
    x = torch.randn(2, 16, 128)
    with torch.no_grad():
        _, _, out, _ = stage(x, (4, 4))
        ref = x
        for block, window in zip(stage.blocks, stage.block_windows):
            layout = build_layout((4, 4), 2, window)
            ref = layout.exit(block(layout.enter(ref), layout))
    torch.testing.assert_close(out, ref)
    with pytest.raises(ValueError, match=r'global_blocks \[3\] out of range'):
        encoder(global_blocks=[[], [], [3], []])


def test_checkpoint_of_another_size_and_windows_loads():
    """224 pretraining windows 14-14-14-7 -> 384 fine-tuning windows
    16-16-24-12: the position embedding and bias tables are resized."""
    small = encoder(img_size=224)
    big = encoder(img_size=384, window_size=[16, 16, 24, 12])
    missing = big.load_state_dict(small.state_dict(), strict=True)
    assert not missing.missing_keys and not missing.unexpected_keys
    assert big.absolute_pos_embed.shape == (1, 96 * 96, 32)
    table = big.layers[2].blocks[0].attn.relative_position_bias_table
    assert table.shape == (47 * 47, 4)
    out = big(torch.randn(1, 3, 384, 384))[0]
    assert out.shape == (1, 256) and torch.isfinite(out).all()


def test_mmpretrain_backbone_state_dict_loads_directly():
    """mmpretrain's layout (with relative_position_index buffers) loads
    strictly without a converter."""
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
        ref = MMPRETRAIN_MODELS.build(
            dict(type='MixMIMTransformer', arch=TINY))
    ref.eval()
    ours = encoder().eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours(x)[0], ref(x)[0], rtol=0, atol=1e-5)


def test_a_checkpoint_of_another_model_is_an_error():
    with pytest.raises(KeyError, match='holds none of MixMIMEncoder'):
        encoder().load_state_dict({'conv1.weight': torch.zeros(1)},
                                  strict=False)
    with pytest.raises(ValueError, match='checkpoint has 2 heads'):
        model = encoder()
        state = model.state_dict()
        key = 'layers.0.blocks.0.attn.relative_position_bias_table'
        state[key] = torch.zeros(10, 2)
        model.load_state_dict(state)


def test_pretrained_init_cfg_loads_and_reports_partial_loads(tmp_path):
    """``init_cfg=dict(type='Pretrained', prefix='backbone.')`` loads the
    backbone of a pretraining checkpoint; the fresh output norms are
    reported in the log; a missing pretrained tensor or a wrong prefix
    fails loudly."""
    from mixmim_plugin.models.utils import CheckpointMismatchError
    source = encoder(img_size=224)
    state = {f'backbone.{k}': v for k, v in source.state_dict().items()}
    state['neck.decoder_embed.weight'] = torch.zeros(2, 2)
    path = tmp_path / 'pretrain.pth'
    torch.save({'state_dict': state}, path)

    def dense(checkpoint):
        return encoder(
            init=False,
            img_size=224,
            out_indices=(2, 3),
            out_type='featmap',
            init_cfg=dict(
                type='Pretrained',
                checkpoint=str(checkpoint),
                prefix='backbone.'))

    logger = MMLogger.get_current_instance()
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    try:
        model = dense(path)
        model.init_weights()
    finally:
        logger.removeHandler(handler)
    torch.testing.assert_close(model.layers[2].blocks[0].attn.qkv.weight,
                               source.layers[2].blocks[0].attn.qkv.weight)
    log = '\n'.join(r.getMessage() for r in records)
    assert 'missing keys' in log and 'norm2.weight' in log
    assert 'fresh (not in a pretraining checkpoint): norm2.weight' in log

    del state['backbone.norm.weight']
    partial = tmp_path / 'partial.pth'
    torch.save({'state_dict': state}, partial)
    with pytest.raises(CheckpointMismatchError, match='norm.weight'):
        dense(partial).init_weights()
    with pytest.raises(AssertionError, match='encoder. is not in'):
        encoder(
            init_cfg=dict(
                type='Pretrained', checkpoint=str(path), prefix='encoder.'))


def test_freezing_every_stage_freezes_the_norms_too():
    model = encoder(out_type='featmap', out_indices=(1, 3), frozen_stages=4)
    model.train()
    assert not any(p.requires_grad for p in model.parameters())
    partial = encoder(out_type='featmap', out_indices=(1, 3), frozen_stages=2)
    partial.train()
    assert not partial.norm1.weight.requires_grad
    assert partial.norm.weight.requires_grad


def test_input_shape_error_names_the_shape():
    with pytest.raises(ValueError, match=r'got a tensor of shape \(3, 64\)'):
        encoder()(torch.zeros(3, 64))
