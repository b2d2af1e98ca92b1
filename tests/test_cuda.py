"""What only a CUDA GPU can check: the SDPA kernels with the relative
position bias and the -inf masks, and MixMIM-B's fp16 / bf16 AMP steps.

Every test here is marked ``cuda`` and skipped without a GPU;
``tools/analysis_tools/gpu_check.sh`` runs this file on one.
"""
import math

import numpy as np
import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

from mixmim_plugin.datasets.transforms import MixMaskGenerator
from mixmim_plugin.models.utils import attend
from mixmim_plugin.models.utils.masks import same_source_pairs
from mixmim_tools.configs import build_model, load_config, plugin_config

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(
        not torch.cuda.is_available(), reason='needs a CUDA GPU')
]

B_CONFIG = 'mixmim/mixmim-b_8xb128_600e.py'
TOLERANCE = {torch.float32: 2e-5, torch.bfloat16: 3e-2, torch.float16: 4e-3}


def _attention_inputs(dtype, masked):
    """q, k, v (16 windows, 4 heads, 49 tokens, 32), a (1, 4, 49, 49) bias
    and, if ``masked``, the same-source pairs of a random two-image mix."""
    g = torch.Generator(device='cuda').manual_seed(0)
    q, k, v = (
        torch.randn(16, 4, 49, 32, device='cuda', generator=g, dtype=dtype)
        for _ in range(3))
    bias = 0.1 * torch.randn(
        1, 4, 49, 49, device='cuda', generator=g, dtype=dtype)
    allowed = None
    if masked:
        labels = torch.randint(
            0, 2, (16, 49), device='cuda', generator=g, dtype=torch.long)
        allowed = same_source_pairs(labels, attend_padding=False)
    return [t.requires_grad_() for t in (q, k, v, bias)], allowed


@pytest.mark.parametrize('masked', [False, True])
@pytest.mark.parametrize('dtype', list(TOLERANCE))
def test_sdpa_matches_the_written_out_product_with_bias_and_mask(
        dtype, masked):
    """The CUDA SDPA kernel (bias folded with -inf where not allowed)
    against the product written out in fp32: outputs and the gradients of
    q, k, v and the bias."""
    (q, k, v, bias), allowed = _attention_inputs(dtype, masked)
    out = attend(q, k, v, bias, allowed, policy='sdpa')
    grad = torch.randn_like(out)
    got = torch.autograd.grad(out, (q, k, v, bias), grad)
    ref_in = [t.detach().float().requires_grad_() for t in (q, k, v, bias)]
    ref = attend(*ref_in, allowed=allowed, policy='math')
    want = torch.autograd.grad(ref, ref_in, grad.float())
    assert torch.isfinite(out).all()
    tol = TOLERANCE[dtype]
    torch.testing.assert_close(out.float(), ref, rtol=tol, atol=tol)
    for g_got, g_want in zip(got, want):
        torch.testing.assert_close(
            g_got.float(), g_want, rtol=tol, atol=tol * 10)


def _mixmim_b_batch(model, batch: int = 8):
    size = model.backbone.img_size
    gen = MixMaskGenerator(
        mask_patch_size=model.backbone.output_stride,
        mask_ratio=0.5,
        input_size=size[0])
    np.random.seed(0)
    masks = np.stack([
        gen.transform(dict(img=np.zeros((*size, 3))))['mix_mask']
        for _ in range(batch)
    ])
    torch.manual_seed(0)
    images = torch.randn(batch, 3, *size, device='cuda')
    return images, model.pair_masks(torch.from_numpy(masks).cuda())


def _mixmim_b(dtype):
    """MixMIM-B of the shipped config on the GPU and its own optimizer
    wrapper (DeviceAmpOptimWrapper: mmengine's AMP there) at ``dtype``."""
    cfg = load_config(plugin_config(B_CONFIG))
    torch.manual_seed(0)
    model = build_model(cfg)
    model.init_weights()
    model.cuda().train()
    optim_cfg = dict(cfg.optim_wrapper, dtype=dtype)
    with DefaultScope.overwrite_default_scope('mixmim_plugin'):
        wrapper = build_optim_wrapper(model, optim_cfg)
    return model, wrapper


@pytest.mark.parametrize('dtype', ['float16', 'bfloat16'])
def test_mixmim_b_amp_steps_stay_finite(dtype):
    """Eight AMP steps of MixMIM-B (masked attention with -inf masks):
    every loss and every parameter finite, the first loss close to fp32's,
    and, in fp16, the dynamic loss scale not collapsing."""
    model, wrapper = _mixmim_b(dtype)
    images, masks = _mixmim_b_batch(model)
    with torch.no_grad():
        fp32_loss = model.forward_train(images, masks)['loss'].item()
    losses = []
    for _ in range(8):
        with wrapper.optim_context(model):
            loss = model.forward_train(images, masks)['loss']
        wrapper.update_params(loss)
        losses.append(loss.item())
    assert all(math.isfinite(v) for v in losses), losses
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert abs(losses[0] - fp32_loss) < 2e-2 * abs(fp32_loss)
    assert losses[-1] < losses[0]  # the steps train
    if dtype == 'float16':
        assert wrapper.loss_scaler.get_scale() >= 2.**10


def test_compiled_forward_train_matches_eager_on_cuda():
    """Inductor on the GPU: MixMIM-B's compiled training forward (one graph)
    gives the eager loss and gradients in fp32."""
    model, _ = _mixmim_b('bfloat16')
    images, masks = _mixmim_b_batch(model, batch=4)
    eager = model.forward_train(images, masks)['loss']
    eager_grads = torch.autograd.grad(eager, list(model.parameters()))
    torch._dynamo.reset()
    compiled = torch.compile(model.forward_train, fullgraph=True)
    loss = compiled(images, masks)['loss']
    grads = torch.autograd.grad(loss, list(model.parameters()))
    assert abs(loss.item() - eager.item()) < 1e-4
    for got, want in zip(grads, eager_grads):
        torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-5)
