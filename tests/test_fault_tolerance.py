"""Training that survives faults, run as users run it: tools/train.py in a
subprocess on the tiny MixMIM and MoBY configs, killed with SIGKILL,
resumed, fed broken checkpoints, other shapes and a diverging lr."""
import glob
import json
import os
import os.path as osp
import shutil
import signal
import subprocess
import sys
from typing import Dict, List, Optional

import pytest
import torch
from config_matrix import ROOT, run

MIXMIM = 'configs/mixmim/mixmim-tiny_1xb32_20e_embedded.py'
MOBY = 'configs/moby/moby-swin-nano_1xb32_30e_embedded.py'
# 3 epochs of 2 iterations of 4 images; raw (window 1) losses in the log
EPOCHS, BATCH, IMAGES = 3, 4, 8


def options(data: Dict[str, str],
            epochs: int = EPOCHS,
            keep: int = 1,
            *extra: str) -> List[str]:
    return [
        '--cfg-options',
        f"train_dataloader.dataset.data_root={data['imagenet']}/",
        f'train_dataloader.batch_size={BATCH}',
        f'train_dataloader.dataset.indices={IMAGES}',
        f'train_cfg.max_epochs={epochs}',
        f'default_hooks.checkpoint.max_keep_ckpts={keep}',
        'default_hooks.checkpoint.interval=1',
        'default_hooks.logger.interval=1', 'log_processor.window_size=1',
        'randomness.deterministic=True', *extra
    ]


def train(config: str,
          work_dir: str,
          args: List[str],
          resume: bool = False,
          env: Optional[dict] = None):
    command = [
        sys.executable,
        osp.join(ROOT, 'tools', 'train.py'), config, '--work-dir', work_dir
    ] + (['--resume'] if resume else [])
    return run(command + args, env=env)


def train_until_killed(config: str, work_dir: str, args: List[str],
                       marker: str) -> str:
    """Run tools/train.py and SIGKILL it when ``marker`` is printed."""
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1')
    env['PATH'] = osp.dirname(sys.executable) + os.pathsep + env['PATH']
    process = subprocess.Popen(
        [
            sys.executable,
            osp.join(ROOT, 'tools', 'train.py'), config, '--work-dir', work_dir
        ] + args,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True)
    seen = []
    for line in process.stdout:
        seen.append(line)
        if marker in line:
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=120)
    assert process.returncode == -signal.SIGKILL, ''.join(seen)[-3000:]
    return ''.join(seen)


def losses(work_dir: str) -> Dict[int, float]:
    """iteration -> loss, from the logs of every run in ``work_dir`` (in
    time order: a resumed run's value replaces the killed run's)."""
    found = {}
    for path in sorted(
            glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            for line in f:
                record = json.loads(line)
                if 'loss' in record and 'step' in record:
                    found[record['step']] = record['loss']
    return found


@pytest.fixture(scope='module')
def uninterrupted(embedded_data, tmp_path_factory):
    """The losses of uninterrupted runs, per config."""
    found = {}
    for config in (MIXMIM, MOBY):
        work_dir = str(tmp_path_factory.mktemp('uninterrupted'))
        code, out = train(config, work_dir, options(embedded_data))
        assert code == 0, out[-3000:]
        found[config] = losses(work_dir)
        assert sorted(found[config]) == list(range(1, 7)), found[config]
    return found


@pytest.mark.slow
@pytest.mark.parametrize('config', [MIXMIM, MOBY])
def test_killed_and_resumed_run_repeats_the_losses_exactly(
        config, embedded_data, uninterrupted, tmp_path):
    work_dir = str(tmp_path)
    train_until_killed(config, work_dir, options(embedded_data),
                       'Epoch(train) [2][1/2]')
    code, out = train(config, work_dir, options(embedded_data), resume=True)
    assert code == 0, out[-3000:]
    assert 'resumed epoch: 1, iter: 2' in out
    resumed = losses(work_dir)
    reference = uninterrupted[config]
    assert sorted(resumed) == sorted(reference)
    diff = max(abs(resumed[i] - reference[i]) for i in reference)
    assert diff == 0, {i: (resumed[i], reference[i]) for i in reference}


KILL_HOOK = '''
import os, signal
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

@HOOKS.register_module()
class KillAtSave(Hook):
    """SIGKILL the run when it starts writing checkpoint ``at`` (epochs)."""

    def __init__(self, at):
        self.at = at

    def before_save_checkpoint(self, runner, checkpoint):
        if checkpoint['meta']['epoch'] == self.at:
            os.kill(os.getpid(), signal.SIGKILL)
'''


@pytest.mark.slow
def test_kill_during_a_save_keeps_the_previous_checkpoint(
        embedded_data, tmp_path):
    """max_keep_ckpts=1, SIGKILL while epoch 2 is saved: epoch_1.pth and
    last_checkpoint survive, and --resume continues from them."""
    (tmp_path / 'kill_hook.py').write_text(KILL_HOOK)
    config = tmp_path / 'killed_at_save.py'
    config.write_text(
        f"_base_ = '{osp.join(ROOT, MIXMIM)}'\n"
        "custom_imports = dict(imports=['mixmim_plugin', 'kill_hook'])\n"
        "custom_hooks = [dict(type='KillAtSave', at=2)]\n")
    work_dir = str(tmp_path / 'work')
    code, out = train(
        str(config),
        work_dir,
        options(embedded_data),
        env=dict(PYTHONPATH=str(tmp_path)))
    assert code == -signal.SIGKILL, out[-3000:]
    assert sorted(f for f in os.listdir(work_dir)
                  if f.endswith('.pth')) == ['epoch_1.pth']
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        assert f.read().endswith('epoch_1.pth')
    code, out = train(
        str(config),
        work_dir,
        options(embedded_data, EPOCHS, 1, 'custom_hooks=[]'),
        resume=True,
        env=dict(PYTHONPATH=str(tmp_path)))
    assert code == 0, out[-3000:]
    assert 'resumed epoch: 1, iter: 2' in out
    assert sorted(f for f in os.listdir(work_dir)
                  if f.endswith('.pth')) == [f'epoch_{EPOCHS}.pth']


@pytest.mark.slow
def test_resume_falls_back_to_the_newest_intact_checkpoint(
        embedded_data, tmp_path):
    first = str(tmp_path / 'first')
    code, out = train(MIXMIM, first, options(embedded_data, 2, 2))
    assert code == 0, out[-3000:]
    # the newest checkpoint is truncated; the work dir is moved
    newest = osp.join(first, 'epoch_2.pth')
    with open(newest, 'r+b') as f:
        f.truncate(osp.getsize(newest) // 2)
    moved = str(tmp_path / 'moved')
    shutil.move(first, moved)
    code, out = train(MIXMIM, moved, options(embedded_data, 3, 2), resume=True)
    assert code == 0, out[-3000:]
    assert f'resume: using {moved}/epoch_1.pth because' in out
    assert 'epoch_2.pth: the file is truncated or corrupt' in out
    assert 'resumed epoch: 1, iter: 2' in out
    # without last_checkpoint the work dir is scanned; with no checkpoint
    # one line says that training starts from the beginning
    os.remove(osp.join(moved, 'last_checkpoint'))
    code, out = train(MIXMIM, moved, options(embedded_data, 3, 2), resume=True)
    assert code == 0 and 'no usable last_checkpoint file' in out, out[-3000:]
    empty = str(tmp_path / 'empty')
    code, out = train(MIXMIM, empty, options(embedded_data, 1), resume=True)
    assert code == 0, out[-3000:]
    assert f'resume: nothing to resume from in {empty}' in out


@pytest.mark.slow
@pytest.mark.parametrize(
    'saved,resumed', [(64, 96), (96, 64)],
    ids=['narrow-to-wide', 'wide-to-narrow'])
def test_resume_across_shapes_is_a_named_error(saved, resumed, embedded_data,
                                               tmp_path):
    work_dir = str(tmp_path)
    width = 'model.neck.decoder_embed_dim={}'
    code, out = train(MIXMIM, work_dir,
                      options(embedded_data, 1, 1, width.format(saved)))
    assert code == 0, out[-3000:]
    code, out = train(
        MIXMIM,
        work_dir,
        options(embedded_data, 2, 1, width.format(resumed)),
        resume=True)
    assert code == 1, out[-3000:]
    assert 'ResumeMismatchError: cannot resume from' in out
    assert (f'model neck.mask_token: this run (1, 1, {resumed}), '
            f'checkpoint (1, 1, {saved})') in out


@pytest.mark.slow
def test_diverging_run_stops_without_writing_a_non_finite_checkpoint(
        embedded_data, tmp_path):
    work_dir = str(tmp_path)
    code, out = train(
        MIXMIM, work_dir,
        options(embedded_data, 3, 3, 'optim_wrapper.optimizer.lr=1e8',
                'fault_tolerance.max_consecutive_nonfinite=2',
                'fault_tolerance.max_rollbacks=1'))
    assert code == 1, out[-3000:]
    assert 'step not applied (2 in a row' in out
    assert 'rolled back model, optimizer and schedulers to' in out
    assert ('NonFiniteTrainingError: iteration 5: 2 non-finite steps in a '
            'row (gradient) after 1 rollbacks: training stops') in out
    for name in os.listdir(work_dir):
        if name.endswith('.pth'):
            state = torch.load(
                osp.join(work_dir, name),
                map_location='cpu',
                weights_only=False)['state_dict']
            assert all(
                torch.isfinite(v).all() for v in state.values()
                if v.is_floating_point()), name
