"""The one attention module and its backend policy: every method's
attention goes through it, its choice is an attribute and a log line, and
the backends compute the same product."""
import logging

import pytest
import torch
import torch.nn.functional as F
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope
from mmpretrain.models.utils import MultiheadAttention

from mixmim_plugin.models.backbones import MixMIMSwin
from mixmim_plugin.models.utils import Attention, LayoutMSA, attend
from mixmim_plugin.models.utils import attention as attention_module
from mixmim_plugin.models.utils import default_backend
from mixmim_plugin.registry import MODELS

TINY_VIT = dict(
    embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
# one model per method that has transformer attention of its own
MODELS_WITH_ATTENTION = {
    'MixMIMEncoder':
    dict(type='MixMIMEncoder', arch='tiny', img_size=64),
    'MixMIMDualDecoder':
    dict(
        type='MixMIMDualDecoder',
        num_patches=4,
        in_channels=32,
        decoder_embed_dim=32,
        decoder_depth=2,
        decoder_num_heads=2),
    'MixMIMViT':
    dict(type='MixMIMViT', arch=TINY_VIT, img_size=32),
    'DropPosViT':
    dict(type='DropPosViT', arch='tiny', img_size=32),
    'DropPosDecoder':
    dict(
        type='DropPosDecoder',
        in_channels=32,
        embed_dims=32,
        num_heads=2,
        num_positions=4),
    'MixMIMSwin':
    dict(
        type='MixMIMSwin',
        arch=dict(embed_dims=16, depths=[2, 2], num_heads=[1, 2]),
        img_size=64,
        window_size=4,
        out_indices=(1, )),
}


def build(cfg: dict) -> torch.nn.Module:
    with DefaultScope.overwrite_default_scope('mixmim_plugin'):
        return MODELS.build(cfg)


def policy_holders(model: torch.nn.Module) -> list:
    """The modules whose ``attn_backend`` decides a kernel."""
    holders = [
        m for m in model.modules() if isinstance(m, (Attention, LayoutMSA))
    ]
    return holders + [model] if isinstance(model, MixMIMSwin) else holders


@pytest.mark.parametrize('name', sorted(MODELS_WITH_ATTENTION))
def test_every_method_uses_the_plugin_attention(name, monkeypatch):
    """Every attention of the plugin's models (for Swin: its masked path)
    carries the policy as ``attn_backend``, taken from $MIXMIM_ATTENTION;
    no mmpretrain attention is left but Swin's plain forward."""
    monkeypatch.setenv('MIXMIM_ATTENTION', 'math')
    model = build(MODELS_WITH_ATTENTION[name])
    holders = policy_holders(model)
    assert holders and all(h.attn_backend == 'math' for h in holders)
    if name != 'MixMIMSwin':
        assert not [
            m for m in model.modules() if type(m) is MultiheadAttention
        ]
    monkeypatch.delenv('MIXMIM_ATTENTION')
    model = build(MODELS_WITH_ATTENTION[name])
    assert all(h.attn_backend == 'auto' for h in policy_holders(model))


def test_an_unknown_policy_names_the_variable(monkeypatch):
    monkeypatch.setenv('MIXMIM_ATTENTION', 'flash')
    with pytest.raises(ValueError, match=r"MIXMIM_ATTENTION='flash'"):
        default_backend()


@pytest.mark.parametrize('dtype,grad,expected', [
    (torch.float32, True, 'math'),
    (torch.float32, False, 'sdpa'),
    (torch.bfloat16, True, 'math'),
    (torch.bfloat16, False, 'sdpa'),
    (torch.float16, True, 'math'),
])
def test_auto_policy_writes_out_only_cpu_training(dtype, grad, expected):
    q = torch.zeros(1, 1, 4, 8, dtype=dtype)
    with torch.set_grad_enabled(grad):
        assert attention_module.backend_for('auto', q) == expected
    assert attention_module.backend_for('sdpa', q) == 'sdpa'
    assert attention_module.backend_for('math', q) == 'math'


@pytest.mark.parametrize('masked', [False, True])
def test_backends_compute_the_same_product(masked):
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 10, 8) for _ in range(3))
    bias = torch.randn(1, 3, 10, 10)
    allowed = torch.rand(2, 1, 10, 10) > 0.4 if masked else None
    if masked:
        allowed |= torch.eye(10, dtype=torch.bool)  # a query sees itself
    sdpa = attend(q, k, v, bias, allowed, policy='sdpa')
    math = attend(q, k, v, bias, allowed, policy='math')
    # an independent computation
    scores = q @ k.transpose(-2, -1) / 8**0.5 + bias
    if masked:
        scores = scores.masked_fill(~allowed, float('-inf'))
    reference = scores.softmax(-1) @ v
    torch.testing.assert_close(sdpa, reference, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(math, reference, rtol=1e-5, atol=1e-5)
    scaled = attend(q, k, v, scale=0.5, policy='math')
    torch.testing.assert_close(
        scaled, F.scaled_dot_product_attention(q, k, v, scale=0.5))


def test_adopted_attention_keeps_parameters_and_output():
    torch.manual_seed(0)
    mha = MultiheadAttention(32, 2, layer_scale_init_value=0.1)
    mha.eval()
    x = torch.randn(2, 5, 32)
    before = mha(x)
    adopted = Attention.adopt(mha)
    assert adopted.state_dict().keys() == mha.state_dict().keys()
    assert all(a is b for a, b in zip(adopted.parameters(), mha.parameters()))
    adopted.eval()
    torch.testing.assert_close(adopted(x), before, rtol=1e-6, atol=1e-6)
    with pytest.raises(TypeError, match='cannot adopt a Attention'):
        Attention.adopt(adopted)


def test_the_backend_in_use_is_logged_once_to_the_runs_logger(monkeypatch):
    """The first call of each (policy, backend, device, dtype) is logged to
    a run's logger; mmengine's fallback logger (a bare script) gets
    nothing."""
    q = torch.randn(1, 1, 4, 8, dtype=torch.bfloat16)
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    for name in ('mmengine', 'attention-policy-test'):
        logger = MMLogger.get_instance(name)
        monkeypatch.setattr(MMLogger, 'get_current_instance', lambda: logger)
        attention_module._announce.cache_clear()
        logger.addHandler(handler)
        try:
            with torch.enable_grad():
                attend(q, q, q)
                attend(q, q, q)
        finally:
            logger.removeHandler(handler)
    attention_module._announce.cache_clear()
    lines = [r.getMessage() for r in records]
    assert lines == ["attention: policy 'auto' runs 'math' on cpu bfloat16"]
