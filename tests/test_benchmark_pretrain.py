"""tools/analysis_tools/benchmark_pretrain.py: its options, the matmul
reference, the report's ratios, and (slow) one real run of the tool."""
import os
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from mixmim_tools.benchmark.measure import matmul_tflops
from mixmim_tools.cli import benchmark_pretrain, benchmarking
from mixmim_tools.configs import build_model, load_config, plugin_config


@pytest.mark.parametrize('native,expected', [(True, ['fp32', 'bf16']),
                                             (False, ['fp32'])])
def test_default_precisions_follow_the_cpu(native, expected, monkeypatch,
                                           capsys):
    monkeypatch.setattr(benchmarking, 'cpu_has_native_bf16', lambda: native)
    args = benchmark_pretrain.parse_args(['--device', 'cpu'])
    assert args.precisions == expected
    assert ('bf16 left out' in capsys.readouterr().err) == (not native)
    forced = benchmark_pretrain.parse_args(
        ['--device', 'cpu', '--precisions', 'fp32', 'bf16'])
    assert forced.precisions == ['fp32', 'bf16']


def test_an_odd_batch_is_refused(capsys):
    with pytest.raises(SystemExit):
        benchmark_pretrain.parse_args(['--batch', '3'])
    assert 'even' in capsys.readouterr().err


def test_matmul_reference_is_measured():
    assert 0 < matmul_tflops('cpu', torch.float32, sizes=(64, ), repeats=2)


def _contender(name, step, flops, memory, compile_s=None):
    runs = [dict(fwd_bwd=step - 0.5, optim=0.5)] * 3
    return SimpleNamespace(
        name=name,
        model=nn.Linear(10, 10),
        times={
            'fp32': runs,
            'bf16': [dict(fwd_bwd=step / 2 - .5, optim=.5)]
        },
        flops=flops,
        memory={
            'fp32': memory,
            'bf16': memory // 2
        },
        compile_s=compile_s or {})


def test_report_computes_ratios_and_peak_fractions():
    args = SimpleNamespace(
        device='cpu', batch=4, iters=3, warmup=1, precisions=['fp32', 'bf16'])
    contenders = [
        _contender('ref', 6.5, 4e11, 1500 * 2**20),
        _contender('ours', 5.0, 4e11, 1200 * 2**20),
        _contender('ours compiled', 4.0, 4e11, 1000 * 2**20,
                   dict(fp32=250., bf16=300.)),
    ]
    lines = benchmark_pretrain.report(args, contenders,
                                      dict(fp32=0.16, bf16=0.4))
    text = '\n'.join(lines)
    # 4e11 FLOP in 5 s = 0.08 TFLOP/s, half the measured fp32 matmul peak
    assert '| ours | fp32 | 0.00 | 4.500 | 0.500 | 5.000 | 0.80 | ' \
        '0.080 (50%) | 1200 |' in text
    assert 'compile time: fp32: 250 s  bf16: 300 s' in text
    assert 'compiled step over eager step, plugin: fp32: 1.25x' in text
    assert 'peak memory, plugin / mmpretrain: fp32: 0.80x  bf16: 0.80x' in text
    # bf16: 4e11 FLOP in 2.5 s = 0.16 TFLOP/s of 0.4
    assert 'fraction of bf16 matmul peak: 40%' in text
    assert lines[-1] == 'speedup fp32: 1.30x  bf16: 1.30x'


@pytest.mark.slow
def test_tool_runs_and_writes_its_report(tmp_path, capsys):
    out = tmp_path / 'bench.md'
    status = benchmark_pretrain.main([
        '--device', 'cpu', '--batch', '2', '--iters', '1', '--warmup', '0',
        '--precisions', 'fp32', '--out',
        str(out)
    ])
    assert status == 0
    text = out.read_text()
    assert text == capsys.readouterr().out
    assert '| plugin MixMIM-B | fp32 |' in text
    assert 'matmul throughput (square 2048 and 4096 products): fp32:' in text
    assert text.rstrip().splitlines()[-1].startswith('speedup fp32: ')


def test_compiled_contender_helpers(monkeypatch, tmp_path):
    """--compile's helpers: an empty inductor cache unless one is set, and
    the eager forward in the masked layout compiled code runs (the same
    loss; the stages' default restored)."""
    monkeypatch.delenv('TORCHINDUCTOR_CACHE_DIR', raising=False)
    benchmark_pretrain.fresh_compile_cache()
    fresh = os.environ['TORCHINDUCTOR_CACHE_DIR']
    assert osp.isdir(fresh) and not os.listdir(fresh)
    monkeypatch.setenv('TORCHINDUCTOR_CACHE_DIR', str(tmp_path))
    benchmark_pretrain.fresh_compile_cache()
    assert os.environ['TORCHINDUCTOR_CACHE_DIR'] == str(tmp_path)

    cfg = load_config(
        plugin_config('mixmim/mixmim-tiny_1xb32_20e_embedded.py'))
    torch.manual_seed(0)
    model = build_model(cfg).train()
    images = torch.randn(2, 3, 128, 128)
    masks = model.pair_masks(torch.rand(2, 4, 4) > 0.5)
    with torch.no_grad():
        grouped = model.forward_train(images, masks)['loss']
        with benchmark_pretrain.masked_windows(model.backbone):
            assert not any(s.grouped for s in model.backbone.layers)
            masked = model.forward_train(images, masks)['loss']
    assert all(s.grouped for s in model.backbone.layers)
    torch.testing.assert_close(masked, grouped, rtol=1e-5, atol=1e-6)
