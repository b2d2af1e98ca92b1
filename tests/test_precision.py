"""DeviceAmpOptimWrapper: the configs' fp16 AMP recipe runs unchanged on a
CPU (bf16 autocast or fp32, one log line saying which), and checkpoints
move between devices."""
import pytest
import torch
from mmengine.optim import OptimWrapper
from torch import nn

from mixmim_plugin.engine.optimizers import DeviceAmpOptimWrapper
from mixmim_plugin.engine.optimizers import \
    device_amp_optim_wrapper as device_amp
from mixmim_plugin.engine.optimizers.device_amp_optim_wrapper import \
    accelerator_available
from mixmim_plugin.registry import OPTIM_WRAPPERS

cpu_only = pytest.mark.skipif(
    accelerator_available(), reason='tests the path taken without a GPU')


def _wrapper(model, **kwargs):
    return DeviceAmpOptimWrapper(
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1), **kwargs)


@cpu_only
def test_cpu_autocasts_to_bf16_and_steps():
    model = nn.Linear(4, 2)
    wrapper = _wrapper(model, loss_scale='dynamic', cpu_dtype='bfloat16')
    assert wrapper.precision.startswith('bfloat16 autocast on the CPU')
    with wrapper.optim_context(model):
        out = model(torch.randn(3, 4))
    assert out.dtype == torch.bfloat16
    before = model.weight.detach().clone()
    wrapper.update_params(out.float().pow(2).mean())
    assert not torch.equal(before, model.weight)  # unscaled step applied


@cpu_only
@pytest.mark.parametrize('native', [True, False])
def test_cpu_default_follows_the_bf16_instructions(native, monkeypatch):
    """``cpu_dtype='auto'``: bf16 autocast where the CPU has bf16
    instructions, fp32 where bf16 would be emulated (and the line says
    why)."""
    monkeypatch.setattr(device_amp, 'cpu_has_native_bf16', lambda: native)
    model = nn.Linear(4, 2)
    wrapper = _wrapper(model)
    with wrapper.optim_context(model):
        dtype = model(torch.randn(3, 4)).dtype
    if native:
        assert dtype == torch.bfloat16
        assert wrapper.precision.startswith('bfloat16 autocast on the CPU')
    else:
        assert dtype == torch.float32
        assert wrapper.precision.startswith(
            'float32 on the CPU (no accelerator, and this CPU has no bf16 '
            'instructions')


def test_bf16_instructions_are_read_from_the_cpu_flags():
    with open('/proc/cpuinfo') as f:
        flags = next(line for line in f if line.startswith('flags')).split()
    expected = 'avx512_bf16' in flags or 'amx_bf16' in flags
    assert device_amp.cpu_has_native_bf16() == expected


@cpu_only
def test_cpu_fp32_option_and_bad_dtype():
    model = nn.Linear(4, 2)
    wrapper = _wrapper(model, cpu_dtype='float32')
    assert wrapper.precision.startswith('float32 on the CPU')
    with wrapper.optim_context(model):
        assert model(torch.randn(3, 4)).dtype == torch.float32
    with pytest.raises(ValueError, match="cpu_dtype must be one of"):
        _wrapper(model, cpu_dtype='float16')


@cpu_only
def test_cpu_run_loads_a_gpu_checkpoint_and_clips():
    model = nn.Linear(4, 2)
    wrapper = _wrapper(model, clip_grad=dict(max_norm=1e-3))
    with wrapper.optim_context(model):
        loss = model(torch.randn(3, 4)).float().pow(2).sum() * 100
    wrapper.update_params(loss)
    state = wrapper.state_dict()
    assert state['loss_scaler'] == {}  # a disabled scaler has no state
    # an accelerator's checkpoint carries a loss scale: a CPU run drops it
    state['loss_scaler'] = {'scale': 1024.0, '_growth_tracker': 3}
    fresh = _wrapper(model)
    fresh.load_state_dict(state)
    assert fresh.optimizer.state_dict()['param_groups'][0]['lr'] == 0.1


def test_registered_and_a_subclass_of_mmengine_amp():
    from mmengine.optim import AmpOptimWrapper
    assert OPTIM_WRAPPERS.get('DeviceAmpOptimWrapper') is \
        DeviceAmpOptimWrapper
    assert issubclass(DeviceAmpOptimWrapper, AmpOptimWrapper)
    assert issubclass(DeviceAmpOptimWrapper, OptimWrapper)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cuda_is_mmengine_fp16_amp():
    model = nn.Linear(4, 2).cuda()
    wrapper = _wrapper(model)
    assert wrapper.precision == 'float16 AMP, loss scale dynamic'
    assert wrapper.loss_scaler.is_enabled()
    with wrapper.optim_context(model):
        assert model(torch.randn(3, 4).cuda()).dtype == torch.float16
