"""End to end on the embedded data: pretrain a tiny MixMIM a few iterations,
then train and evaluate from its checkpoint, each through its benchmark
script as a user would run it: Mask R-CNN (``mim train mmdet``, COCO bbox
and segm AP), UPerNet (``mim train mmseg``, mIoU) and classification
fine-tuning (torchrun + tools/train.py, top-1). The numbers are near zero
after so little training; the test checks that every stage ran, loaded the
pretrained backbone and evaluated."""
import os
import os.path as osp
import re
import socket
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
BENCH = osp.join(ROOT, 'configs', 'mixmim', 'benchmarks')
SCRIPTS = osp.join(ROOT, 'tools', 'benchmarks')
LOADED = 'load backbone. in model from:'


def free_port() -> str:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return str(sock.getsockname()[1])


def run(cmd, cwd, **env):
    """Run a command in ``cwd`` (where ``data/embedded`` is); return its
    output, failing with its tail."""
    done = subprocess.run(
        cmd,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
        env=dict(
            os.environ, PYTHON=sys.executable, OMP_NUM_THREADS='2', **env))
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    return out


def metric(out, name):
    """The last value logged for ``name`` (e.g. ``coco/bbox_mAP``)."""
    values = re.findall(re.escape(name) + r':\s*(-?[\d.]+)', out)
    assert values, f'{name} not in the output:\n{out[-3000:]}'
    return float(values[-1])


@pytest.fixture(scope='module')
def workspace(tmp_path_factory, embedded_data):
    """A directory whose ``data/embedded`` is the embedded data, as the
    configs expect it relative to the working directory."""
    work = tmp_path_factory.mktemp('transfer')
    (work / 'data').mkdir()
    os.symlink(
        osp.dirname(embedded_data['imagenet']), work / 'data' / 'embedded')
    return work


@pytest.fixture(scope='module')
def pretrained(workspace):
    """A tiny MixMIM pretrained for 2 iterations (64 images)."""
    run([
        sys.executable,
        osp.join(ROOT, 'tools', 'train.py'),
        osp.join(ROOT, 'configs', 'mixmim',
                 'mixmim-tiny_1xb32_20e_embedded.py'), '--work-dir', 'pre',
        '--no-persistent-workers', '--cfg-options', 'train_cfg.max_epochs=1',
        'train_dataloader.dataset.indices=64', 'train_dataloader.num_workers=0'
    ], workspace)
    path = workspace / 'pre' / 'epoch_1.pth'
    assert path.is_file()
    return str(path)


@pytest.mark.slow
def test_mask_rcnn_through_mim(workspace, pretrained):
    out = run([
        'bash',
        osp.join(SCRIPTS, 'mmdetection', 'mim_dist_train.sh'),
        osp.join(BENCH, 'mask-rcnn_mixmim-tiny_fpn_1xb4-1e_embedded.py'),
        pretrained, '1', '--work-dir', 'det', '--cfg-options',
        'train_dataloader.dataset.indices=8'
    ], workspace)
    assert 'mmdet/.mim/tools/train.py' in out  # mmdet's script, via mim
    assert LOADED in out and 'missing keys in source state_dict' in out
    box, mask = metric(out, 'coco/bbox_mAP'), metric(out, 'coco/segm_mAP')
    print(f'\nMask R-CNN (tiny MixMIM, embedded COCO): bbox AP {box:.3f}, '
          f'segm AP {mask:.3f}')
    assert 0.0 <= box <= 1.0 and 0.0 <= mask <= 1.0


@pytest.mark.slow
def test_upernet_through_mim(workspace, pretrained):
    out = run([
        'bash',
        osp.join(SCRIPTS, 'mmsegmentation', 'mim_dist_train.sh'),
        osp.join(BENCH, 'upernet_mixmim-tiny_1xb4-20i_embedded.py'),
        pretrained, '1', '--work-dir', 'seg', '--cfg-options',
        'train_cfg.max_iters=4', 'train_cfg.val_interval=4'
    ], workspace)
    assert 'mmseg/.mim/tools/train.py' in out
    assert LOADED in out
    miou = metric(out, 'mIoU')
    print(f'\nUPerNet (tiny MixMIM, embedded ADE20K): mIoU {miou:.2f}')
    assert 0.0 <= miou <= 100.0


@pytest.mark.slow
def test_classification_fine_tuning(workspace, pretrained):
    out = run([
        'bash',
        osp.join(SCRIPTS, 'classification', 'dist_train.sh'),
        osp.join(BENCH, 'mixmim-tiny_1xb32-ft-2e_embedded.py'), pretrained,
        '1', '--work-dir', 'cls', '--cfg-options', 'train_cfg.max_epochs=1',
        'train_dataloader.dataset.indices=64'
    ],
              workspace,
              PORT=free_port())
    assert LOADED in out
    top1 = metric(out, 'accuracy/top1')
    print(f'\nFine-tuning (tiny MixMIM, embedded ImageNet): top-1 '
          f'{top1:.2f}')
    assert 0.0 <= top1 <= 100.0
