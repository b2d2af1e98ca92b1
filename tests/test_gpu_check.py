"""The prepared GPU check (tools/analysis_tools/gpu_check.sh) where no GPU
is: its options, the message without a GPU, and how it runs, times out and
reports its steps (driven with cheap stand-in commands)."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from mixmim_tools.cli import gpu_check

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SCRIPT = osp.join(ROOT, 'tools', 'analysis_tools', 'gpu_check.sh')


def test_defaults_and_bad_options(capsys):
    args = gpu_check.parse_args([])
    assert args.batches == [64, 128]
    assert args.precisions == ['fp16', 'bf16']
    assert args.budget == 480.
    with pytest.raises(SystemExit):
        gpu_check.parse_args(['--batches', '64', '63'])
    assert 'even' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        gpu_check.parse_args(['--budget', '0'])


def test_steps_are_the_cuda_tests_then_one_benchmark_per_batch():
    steps = gpu_check.steps(gpu_check.parse_args(['--batches', '8', '16']))
    assert [s.title for s in steps] == [
        'CUDA-only tests', 'MixMIM-B training step, batch 8',
        'MixMIM-B training step, batch 16'
    ]
    assert steps[0].command[-5:-3] == ['-m', 'cuda']
    assert osp.isfile(steps[0].command[3])
    bench = steps[2].command
    assert osp.isfile(bench[1])
    assert bench[bench.index('--device') + 1] == 'cuda'
    assert bench[bench.index('--batch') + 1] == '16'


@pytest.mark.skipif(torch.cuda.is_available(), reason='a GPU is here')
def test_without_a_gpu_the_script_says_so_and_runs_nothing(tmp_path):
    out = tmp_path / 'out'
    proc = subprocess.run(['bash', SCRIPT, '--out-dir',
                           str(out)],
                          capture_output=True,
                          text=True,
                          env=dict(os.environ, PYTHON=sys.executable),
                          timeout=120)
    assert proc.returncode == 2
    assert 'no CUDA GPU is visible' in proc.stderr
    assert not out.exists()


def test_the_script_names_a_python_without_the_stack(tmp_path):
    fake = tmp_path / 'python'
    fake.write_text('#!/bin/sh\nexit 1\n')
    fake.chmod(0o755)
    proc = subprocess.run(['bash', SCRIPT],
                          capture_output=True,
                          text=True,
                          env=dict(os.environ, PYTHON=str(fake)),
                          timeout=60)
    assert proc.returncode == 2
    assert 'tools/setup_env.sh' in proc.stderr


def _python(code: str) -> list:
    return [sys.executable, '-c', code]


def test_steps_run_time_out_and_report(tmp_path, monkeypatch, capsys):
    """The orchestration with stand-in steps on a 'GPU': a passing
    benchmark's table lands in the report, a failing step and one that
    outlasts the budget are reported as such, and the exit status is 1."""
    table = ('print("noise"); print("device: X, batch 8"); '
             'print("| model |"); print("speedup fp16: 1.50x")')
    stand_ins = [
        gpu_check.Step('tests', _python('print("3 passed")')),
        gpu_check.Step('bench', _python(table)),
        gpu_check.Step('broken', _python('import sys; sys.exit(3)')),
        gpu_check.Step('slow', _python('import time; time.sleep(30)')),
        gpu_check.Step('after', _python('print("never")')),
    ]
    monkeypatch.setattr(gpu_check, 'steps', lambda args: stand_ins)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'get_device_name', lambda: 'Stand-in')
    out = tmp_path / 'out'
    status = gpu_check.main(['--out-dir', str(out), '--budget', '4'])
    assert status == 1
    report = (out / 'gpu_check.md').read_text()
    assert report.startswith('# GPU check: Stand-in')
    assert '## tests: passed' in report and '3 passed' in report
    assert 'device: X, batch 8\n| model |\nspeedup fp16: 1.50x' in report
    assert '\nnoise\n' not in report  # the table starts at 'device:'
    assert '## broken: failed (exit status 3)' in report
    assert '## slow: timed out after' in report
    assert '## after: not run' in report
    assert 'never' not in (out / 'gpu_check.log').read_text()
