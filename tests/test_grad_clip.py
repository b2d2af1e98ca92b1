"""Per-parameter gradient clipping (the DropPos authors' rule) in the
plugin's optimizer wrappers, on gradients of known norms."""
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from torch import nn

from mixmim_plugin.engine.optimizers import (DeviceAmpOptimWrapper,
                                             PerParamClipOptimWrapper,
                                             clip_grad_norm_per_param_)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# gradient norms 3, 10 and 8 (limit 5): only the last two are clipped, and
# the global norm sqrt(9 + 100 + 64) = 13.2 is what clip_grad_norm_ returns
NORMS = (3., 10., 8.)


def params_with_grads():
    params = []
    for i, norm in enumerate(NORMS):
        grad = torch.randn(4, 3, generator=torch.Generator().manual_seed(i))
        param = nn.Parameter(torch.zeros(4, 3))
        param.grad = grad * norm / grad.norm()
        params.append(param)
    return params


def test_each_gradient_is_clipped_on_its_own():
    params = params_with_grads()
    before = [p.grad.clone() for p in params]
    total = clip_grad_norm_per_param_(params, max_norm=5.)
    assert total.item() == pytest.approx(math.sqrt(sum(n * n for n in NORMS)))
    for param, grad, norm in zip(params, before, NORMS):
        scale = min(1., 5. / (norm + 1e-6))
        torch.testing.assert_close(param.grad, grad * scale)
    assert params[0].grad.norm().item() == pytest.approx(3.)
    assert params[1].grad.norm().item() == pytest.approx(5., rel=1e-5)
    # the global rule scales all three by 5 / 13.2 instead
    params = params_with_grads()
    nn.utils.clip_grad_norm_(params, max_norm=5.)
    assert params[0].grad.norm().item() == pytest.approx(
        3. * 5. / math.sqrt(173), rel=1e-5)


def step_with(wrapper_type, **extra):
    """One SGD step (lr 1) through the wrapper on a loss whose gradients
    are the known ones; returns the parameters' updates."""
    params = params_with_grads()
    grads = [p.grad.clone() for p in params]
    for p in params:
        p.grad = None
    model = nn.ParameterList(params)
    wrapper = wrapper_type(
        optimizer=torch.optim.SGD(model.parameters(), lr=1.),
        clip_grad=dict(type='per_param_norm', max_norm=5.),
        **extra)
    hub = MessageHub.get_instance(f'clip_{wrapper_type.__name__}')
    wrapper.message_hub = hub
    with wrapper.optim_context(model):
        loss = sum((p * g).sum() for p, g in zip(params, grads))
    wrapper.update_params(loss)
    norm = hub.get_scalar('train/grad_norm').current()
    return [-p.detach() for p in params], grads, norm


@pytest.mark.parametrize(
    'wrapper_type,extra', [(PerParamClipOptimWrapper, {}),
                           (DeviceAmpOptimWrapper, dict(cpu_dtype='float32'))],
    ids=['fp32', 'device-amp'])
def test_wrappers_apply_the_per_parameter_rule(wrapper_type, extra):
    if wrapper_type is DeviceAmpOptimWrapper and torch.cuda.is_available():
        pytest.skip('the CPU path of DeviceAmpOptimWrapper')
    updates, grads, norm = step_with(wrapper_type, **extra)
    for update, grad, n in zip(updates, grads, NORMS):
        torch.testing.assert_close(update, grad * min(1., 5. / (n + 1e-6)))
    assert norm == pytest.approx(math.sqrt(173), rel=1e-5)


def test_bad_per_parameter_arguments_are_named():
    model = nn.Linear(2, 2)
    for bad in (dict(type='per_param_norm'),
                dict(type='per_param_norm', max_norm=5., norm_type=1)):
        with pytest.raises(
                ValueError, match="'per_param_norm' takes max_norm"):
            PerParamClipOptimWrapper(
                optimizer=torch.optim.SGD(model.parameters(), lr=1.),
                clip_grad=bad)


def test_droppos_configs_build_the_per_parameter_rule():
    for name in ('droppos-b_8xb64_800e.py', 'droppos-b_8xb64_800e_fp16.py'):
        cfg = Config.fromfile(osp.join(ROOT, 'configs', 'droppos', name))
        with DefaultScope.overwrite_default_scope('mixmim_plugin'):
            wrapper = build_optim_wrapper(nn.Linear(2, 2), cfg.optim_wrapper)
        assert wrapper.clip_func is clip_grad_norm_per_param_, name
        assert wrapper.clip_grad_kwargs == dict(max_norm=5.0), name
