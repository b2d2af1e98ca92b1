"""Environment checks, config checks, the training tool, resume under
torch's safe loading, and the multi-process CPU run."""
import io
import os
import os.path as osp
import re
import subprocess
import sys
import textwrap

import pytest
import torch
from mmengine.config import Config

from mixmim_plugin.utils import (UnsupportedStackError, check_dataset_paths,
                                 check_stack_versions)
from mixmim_tools.cli import train as train_tool

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def run(args, timeout=600, env=None):
    result = subprocess.run(
        args,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={
            **os.environ,
            **(env or {})
        })
    return result.returncode, result.stdout + result.stderr


# ------------------------------------------------------------------ stack
def test_installed_stack_is_supported():
    versions = check_stack_versions()
    assert versions['mmcv'].startswith('2.1')


@pytest.mark.parametrize('package,version', [('torch', '1.13.1'),
                                             ('mmcv', '2.2.0'),
                                             ('mmpretrain', '1.0.0')])
def test_unsupported_versions_are_named(package, version):
    with pytest.raises(
            UnsupportedStackError,
            match=re.escape(f'{package}=={version} (supported')):
        check_stack_versions(versions={package: version})


# ------------------------------------------------------------------ configs
def _cfg(dataset):
    return Config(dict(train_dataloader=dict(dataset=dataset)))


def test_missing_dataset_paths_are_named(tmp_path):
    with pytest.raises(
            FileNotFoundError,
            match='train_dataloader.dataset.data_root: directory '
            'not found'):
        check_dataset_paths(_cfg(dict(type='ImageNet', data_root='/nope')))
    (tmp_path / 'train').mkdir()
    with pytest.raises(FileNotFoundError, match='ann_file: file not found'):
        check_dataset_paths(
            _cfg(dict(data_root=str(tmp_path), ann_file='meta/train.txt')))
    with pytest.raises(
            FileNotFoundError,
            match='data_prefix.seg_map_path: directory not found'):
        check_dataset_paths(
            _cfg(
                dict(
                    data_root=str(tmp_path),
                    data_prefix=dict(img_path='train',
                                     seg_map_path='labels'))))
    wrapped = dict(
        type='RepeatDataset', times=2, dataset=dict(data_root='/missing'))
    with pytest.raises(
            FileNotFoundError,
            match=r'train_dataloader.dataset.dataset.data_root'):
        check_dataset_paths(_cfg(wrapped))
    check_dataset_paths(
        _cfg(dict(data_root=str(tmp_path), data_prefix='train')))
    check_dataset_paths(_cfg(dict(data_root='s3://bucket/imagenet')))


def test_train_tool_merges_arguments():
    cfg_path = osp.join(ROOT, 'configs/mixmim/mixmim-b_8xb128_600e.py')
    args = train_tool.parse_args([cfg_path, '--resume'])
    cfg = train_tool.merge_args(Config.fromfile(cfg_path), args)
    assert cfg.resume is True and cfg.load_from is None
    assert cfg.work_dir == './work_dirs/mixmim-b_8xb128_600e'
    args = train_tool.parse_args(
        [cfg_path, '--resume', 'x.pth', '--amp', '--auto-scale-lr'])
    cfg = train_tool.merge_args(Config.fromfile(cfg_path), args)
    assert cfg.load_from == 'x.pth' and cfg.auto_scale_lr.enable
    assert cfg.optim_wrapper.type == 'mixmim_plugin.DeviceAmpOptimWrapper'
    assert cfg.train_dataloader.persistent_workers is True
    args = train_tool.parse_args([
        cfg_path, '--work-dir', 'cli_dir', '--cfg-options',
        'train_dataloader.num_workers=0', 'work_dir=cfg_dir'
    ])
    cfg = train_tool.merge_args(Config.fromfile(cfg_path), args)
    # the dataloader defaults see the --cfg-options value: persistent
    # workers need workers, so they are off; the flag beats the option
    assert cfg.train_dataloader.num_workers == 0
    assert cfg.train_dataloader.persistent_workers is False
    assert cfg.work_dir == 'cli_dir'


def test_train_tool_reports_missing_dataset(tmp_path):
    code, out = run([
        sys.executable, 'tools/train.py',
        'configs/mixmim/mixmim-b_8xb128_600e.py', '--work-dir',
        str(tmp_path), '--cfg-options',
        'train_dataloader.dataset.data_root=/no/such/imagenet'
    ])
    assert code != 0
    assert ("train_dataloader.dataset.data_root: directory not found: "
            "'/no/such/imagenet'") in out


def test_test_tool_names_a_config_without_test_loop(tmp_path):
    checkpoint = tmp_path / 'epoch_1.pth'
    checkpoint.write_bytes(b'')  # never read: the config is refused first
    code, out = run([
        sys.executable, 'tools/test.py',
        'configs/mixmim/mixmim-b_8xb128_600e.py',
        str(checkpoint), '--work-dir',
        str(tmp_path)
    ])
    assert code == 2
    assert 'Traceback' not in out
    assert ('configs/mixmim/mixmim-b_8xb128_600e.py has no test loop (no '
            'test_dataloader, test_cfg, test_evaluator): pretraining configs '
            'are evaluated through their benchmark configs '
            '(configs/<method>/benchmarks/)') in out.splitlines(), out


def test_unknown_module_in_config_is_named(tmp_path, embedded_data):
    cfg = tmp_path / 'bad.py'
    cfg.write_text(
        textwrap.dedent(f"""
        _base_ = '{ROOT}/configs/mixmim/mixmim-tiny_1xb32_20e_embedded.py'
        model = dict(backbone=dict(type='MixMIMEncoderr'))
        train_dataloader = dict(dataset=dict(
            data_root='{embedded_data['imagenet']}'))
        """))
    code, out = run([
        sys.executable, 'tools/train.py',
        str(cfg), '--work-dir',
        str(tmp_path / 'work')
    ])
    assert code != 0 and 'MixMIMEncoderr is not in the' in out


# ------------------------------------------------------------------ resume
def tiny_run_config(tmp_path, data_root, max_iters):
    """The demo config cut to a few iterations of batch 4."""
    cfg = tmp_path / f'tiny_{max_iters}.py'
    cfg.write_text(
        textwrap.dedent(f"""
        _base_ = '{ROOT}/configs/mixmim/mixmim-tiny_1xb32_20e_embedded.py'
        train_dataloader = dict(
            batch_size=4, num_workers=0, persistent_workers=False,
            dataset=dict(data_root='{data_root}'))
        train_cfg = dict(
            _delete_=True, type='IterBasedTrainLoop', max_iters={max_iters})
        param_scheduler = []
        default_hooks = dict(
            logger=dict(interval=1),
            checkpoint=dict(by_epoch=False, interval=2, max_keep_ckpts=5))
        log_processor = dict(window_size=1)
        """))
    return str(cfg)


def optimizer_steps(path):
    state = torch.load(path, map_location='cpu')['optimizer']['state']
    return {int(s['step']) for s in state.values()}


@pytest.mark.slow
def test_resume_continues_iterations_and_optimizer(tmp_path, embedded_data):
    work = str(tmp_path / 'work')
    code, out = run([
        sys.executable, 'tools/train.py',
        tiny_run_config(tmp_path, embedded_data['imagenet'], 2), '--work-dir',
        work
    ])
    assert code == 0, out[-3000:]
    first = osp.join(work, 'iter_2.pth')
    assert optimizer_steps(first) == {2}
    # the plain torch.load above used weights_only=True: safe loading stays on
    code, out = run([
        sys.executable, 'tools/train.py',
        tiny_run_config(tmp_path, embedded_data['imagenet'], 4), '--work-dir',
        work, '--resume'
    ])
    assert code == 0, out[-3000:]
    assert 'resumed epoch: 0, iter: 2' in out
    # iterations 3 and 4 run, 1 and 2 are not repeated
    assert re.search(r'\(train\) *\[1\]\[ *3/', out)
    assert not re.search(r'\(train\) *\[1\]\[ *1/', out)
    last = osp.join(work, 'iter_4.pth')
    assert optimizer_steps(last) == {4}
    meta = torch.load(last, map_location='cpu')['meta']
    assert meta['iter'] == 4


def test_safe_loading_needs_the_plugin_and_stays_narrow(tmp_path):
    """A checkpoint holding what mmengine's message hub pickles fails to
    load under torch's default weights_only=True without the plugin, loads
    with it, and a checkpoint asking for another getattr is still
    refused."""
    import numpy as np
    from mmengine.logging.history_buffer import HistoryBuffer
    buffer = HistoryBuffer()
    buffer.update(1.5)
    path = tmp_path / 'hub.pth'
    torch.save({'hub': buffer, 'seed': np.int64(3)}, path)
    code, out = run(
        [sys.executable, '-c', f'import torch; torch.load({str(path)!r})'])
    assert code != 0 and 'Weights only load failed' in out
    loaded = torch.load(path)
    assert loaded['hub'].current() == 1.5

    class Sneaky:

        def __reduce__(self):
            return getattr, (HistoryBuffer, '__init__')

    buf = io.BytesIO()
    torch.save({'x': Sneaky()}, buf)
    buf.seek(0)
    with pytest.raises(Exception, match='refusing getattr'):
        torch.load(buf)


# ------------------------------------------------------------------ dist
@pytest.mark.slow
@pytest.mark.dist
def test_two_process_cpu_training(tmp_path, embedded_data):
    work = str(tmp_path / 'dist')
    code, out = run([
        'bash', 'tools/dist_train.sh',
        tiny_run_config(tmp_path, embedded_data['imagenet'], 4), '2',
        '--work-dir', work
    ],
                    env={
                        'PORT': '29611',
                        'OMP_NUM_THREADS': '1',
                        'PYTHON': sys.executable
                    })
    assert code == 0, out[-4000:]
    assert 'distributed run on the CPU with the gloo backend' in out
    assert 'Saving checkpoint at 4 iterations' in out
    assert osp.exists(osp.join(work, 'iter_4.pth'))
