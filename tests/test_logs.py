"""Training curves from mmengine's JSON logs
(tools/analysis_tools/analyze_logs.py)."""
import json
import os
import os.path as osp
import subprocess
import sys

import mmpretrain
import numpy as np
import pytest
from PIL import Image

from mixmim_tools.cli import analyze_logs
from mixmim_tools.visualization.curves import (LogError, default_keys,
                                               load_train_curves, run_label,
                                               smooth)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def write_run(work_dir, timestamp, records):
    """A ``<work_dir>/<timestamp>/vis_data/scalars.json`` as mmengine's
    LoggerHook writes it (one JSON object per line)."""
    folder = osp.join(work_dir, timestamp, 'vis_data')
    os.makedirs(folder, exist_ok=True)
    path = osp.join(folder, 'scalars.json')
    with open(path, 'w') as f:
        for record in records:
            f.write(json.dumps(record) + '\n')
    return path


def droppos_lines(steps, per_epoch=6):
    for step in steps:
        yield {
            'base_lr': 1e-4,
            'lr': 1e-4,
            'data_time': 0.1,
            'sigma': 1 - step / 100,
            'loss': 5 - step / 10,
            'loss_pos': 5 - step / 10,
            'acc_pos': step / 100,
            'time': 0.4,
            'epoch': (step - 1) // per_epoch + 1,
            'iter': step,
            'step': step
        }


def moby_lines(steps):
    for step in steps:
        yield {
            'lr': 1e-3,
            'loss': 11 - step / 50,
            'momentum': 1 - 0.01 * (1 - step / 30),
            'grad_norm': 3.0,
            'time': 0.9,
            'epoch': 1,
            'iter': step,
            'step': step
        }


def test_resumed_runs_are_joined_and_validation_is_left_out(tmp_path):
    work = tmp_path / 'droppos-tiny'
    first = list(droppos_lines([6, 12, 18]))
    first.append({'accuracy/top1': 12.5, 'step': 1})  # a validation line
    write_run(work, '20240101_000000', first)
    # resumed from iteration 12: the new run's step 18 replaces the old one
    resumed = list(droppos_lines([18, 24]))
    resumed[0]['loss'] = 99.0
    write_run(work, '20240101_010000', resumed)
    curves = load_train_curves(str(work))
    assert [s for s, _ in curves['loss']] == [6, 12, 18, 24]
    assert curves['loss'][2] == (18, 99.0)
    assert 'accuracy/top1' not in curves
    assert not {'step', 'iter', 'epoch'} & set(curves)
    assert run_label(str(work)) == 'droppos-tiny'
    assert default_keys([curves]) == ['loss', 'loss_pos', 'acc_pos', 'sigma']


def test_bad_logs_are_reported(tmp_path):
    with pytest.raises(LogError, match='log not found'):
        load_train_curves(str(tmp_path / 'nothing.json'))
    with pytest.raises(LogError, match='no <timestamp>/vis_data'):
        load_train_curves(str(tmp_path))
    path = write_run(tmp_path / 'w', 't', droppos_lines([6]))
    with open(path, 'a') as f:
        f.write('{"loss": 1.0, "step": \n')
    with pytest.raises(LogError, match=r'scalars.json:2: not JSON'):
        load_train_curves(path)
    only_val = write_run(tmp_path / 'v', 't', [{'mIoU': 3.0, 'step': 1}])
    with pytest.raises(LogError, match='no training lines'):
        load_train_curves(only_val)


def test_smooth_is_a_trailing_mean():
    values = np.array([1., 3., 5., 7.])
    np.testing.assert_allclose(smooth(values, 2), [1., 2., 4., 6.])
    np.testing.assert_allclose(smooth(values, 1), values)


def test_tool_plots_one_panel_per_key(tmp_path, capsys):
    droppos = write_run(tmp_path / 'droppos', 't', droppos_lines([6, 12]))
    moby = write_run(tmp_path / 'moby', 't', moby_lines([6, 12, 18]))
    tool = analyze_logs
    out = tmp_path / 'plots' / 'curves.png'
    assert tool.main([droppos, moby, '--out', str(out)]) == 0
    printed = capsys.readouterr().out
    assert "curves of ['loss', 'loss_pos', 'acc_pos', 'sigma', " \
        "'momentum']" in printed
    assert 'moby momentum: first 0.992 last 0.996 ' in printed
    tall = np.asarray(Image.open(out))
    assert tool.main([moby, '--out', str(out), '--keys', 'loss']) == 0
    short = np.asarray(Image.open(out))
    assert tall.shape[0] > 3 * short.shape[0]  # five panels against one
    assert short.std() > 5
    assert tool.main([moby, '--out', str(out), '--keys', 'acc']) == 2
    assert "no run logged ['acc']; logged keys:" in capsys.readouterr().err
    assert tool.main([moby, '--out', str(out), '--legend', 'a', 'b']) == 2


@pytest.fixture(scope='module')
def droppos_run(tmp_path_factory, embedded_data):
    """Two real iterations of the tiny DropPos config, logged each
    iteration."""
    work = tmp_path_factory.mktemp('droppos_run')
    done = subprocess.run([
        sys.executable, 'tools/train.py',
        'configs/droppos/droppos-tiny_1xb32_20e_embedded.py', '--work-dir',
        str(work), '--cfg-options', 'train_cfg.max_epochs=1',
        f'train_dataloader.dataset.data_root={embedded_data["imagenet"]}',
        'train_dataloader.dataset.indices=64',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=100'
    ],
                          cwd=ROOT,
                          capture_output=True,
                          text=True,
                          timeout=600,
                          env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert done.returncode == 0, done.stderr[-3000:]
    return str(work)


def test_real_droppos_log(droppos_run, tmp_path, capsys):
    curves = load_train_curves(droppos_run)
    assert [s for s, _ in curves['loss']] == [1, 2]
    assert {'acc_pos', 'sigma', 'lr'} <= set(curves)
    out = tmp_path / 'droppos.png'
    assert analyze_logs.main([droppos_run, '--out', str(out)]) == 0
    assert 'acc_pos' in capsys.readouterr().out
    assert np.asarray(Image.open(out)).std() > 5


def test_mmpretrain_tool_reads_the_same_log(droppos_run, tmp_path):
    """mmpretrain's analyze_logs.py works on plugin logs, one axis for all
    keys (the README's alternative command)."""
    scalars = [
        osp.join(droppos_run, d, 'vis_data', 'scalars.json')
        for d in os.listdir(droppos_run)
        if osp.isdir(osp.join(droppos_run, d, 'vis_data'))
    ]
    script = osp.join(
        osp.dirname(mmpretrain.__file__), '.mim', 'tools', 'analysis_tools',
        'analyze_logs.py')
    out = tmp_path / 'mmpretrain.png'
    done = subprocess.run([
        sys.executable, script, 'plot_curve', scalars[0], '--keys', 'loss',
        '--out',
        str(out)
    ],
                          capture_output=True,
                          text=True,
                          timeout=300,
                          env=dict(os.environ, MPLBACKEND='Agg'))
    assert done.returncode == 0, done.stderr[-2000:]
    assert out.exists()
