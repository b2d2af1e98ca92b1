"""The pieces of fault-tolerant training on small inputs: checkpoint files
(atomic writes, named errors), the non-finite guard, the runner's save,
resume-shape check and last-batch rule, and the data errors."""
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper
from torch import nn

from mixmim_plugin.converters import CheckpointFileError, load_checkpoint_file
from mixmim_plugin.engine import (BrokenCheckpointError, FaultTolerantRunner,
                                  NonFiniteCheckpointError,
                                  ResumeMismatchError, SeededDataset)
from mixmim_plugin.engine.checkpoint_files import (checkpoints_in,
                                                   read_checkpoint,
                                                   recorded_checkpoint,
                                                   remove_stale_temporaries,
                                                   verify_resumable,
                                                   write_atomically)
from mixmim_plugin.engine.non_finite import guard
from mixmim_plugin.engine.randomness import SampleError
from mixmim_plugin.engine.runner import check_resume_shapes
from mixmim_plugin.utils.config_checks import check_image_list


# ------------------------------------------------------------------ files
@pytest.fixture
def broken(tmp_path):
    """name -> path of files that are not checkpoints."""
    files = {}
    files['empty'] = tmp_path / 'empty.pth'
    files['empty'].write_bytes(b'')
    files['text'] = tmp_path / 'text.pth'
    files['text'].write_text('epoch 3 finished\n')
    files['random'] = tmp_path / 'random.pth'
    files['random'].write_bytes(
        np.random.default_rng(0).integers(0, 256, 4096,
                                          dtype=np.uint8).tobytes())
    good = tmp_path / 'good.pth'
    torch.save({'meta': {}, 'state_dict': {'w': torch.ones(1000)}}, good)
    files['truncated'] = tmp_path / 'truncated.pth'
    files['truncated'].write_bytes(good.read_bytes()[:2000])
    return {k: str(v) for k, v in files.items()}


EXPECTED = {
    'empty': 'the file is empty (0 bytes)',
    'text': "the file is text, not a PyTorch checkpoint (it starts with "
    "'epoch 3 finished\\n')",
    'random': 'the file is not a PyTorch checkpoint',
    'truncated': 'the file is truncated or corrupt',
}


@pytest.mark.parametrize('kind', sorted(EXPECTED))
def test_broken_files_are_named_with_what_is_wrong(kind, broken):
    with pytest.raises(BrokenCheckpointError) as error:
        read_checkpoint(broken[kind])
    assert str(error.value).startswith(f'{broken[kind]}: {EXPECTED[kind]}')
    # the converter tools' loader says the same, with no --trust advice
    with pytest.raises(CheckpointFileError) as error:
        load_checkpoint_file(broken[kind])
    assert EXPECTED[kind] in str(error.value)
    assert '--trust' not in str(error.value)


def test_a_converter_exits_2_on_a_broken_file(broken, tmp_path):
    tool = osp.join(
        osp.dirname(osp.dirname(osp.abspath(__file__))), 'tools',
        'model_converters', 'plugin2backbone.py')
    done = subprocess.run(
        [sys.executable, tool, broken['empty'],
         str(tmp_path / 'out.pth')],
        capture_output=True,
        text=True)
    assert done.returncode == 2, done.stderr
    assert 'the file is empty (0 bytes)' in done.stderr
    assert 'Traceback' not in done.stderr


def test_pickled_objects_need_trust_only_where_the_flag_exists(tmp_path):
    path = str(tmp_path / 'args.pth')
    torch.save({'model': {}, 'args': argparse_namespace()}, path)
    with pytest.raises(CheckpointFileError, match='pass --trust'):
        load_checkpoint_file(path)
    with pytest.raises(CheckpointFileError) as error:
        load_checkpoint_file(path, trust_option=None)
    assert '--trust if' not in str(error.value)
    assert 'tools/model_converters' in str(error.value)
    assert 'args' in load_checkpoint_file(path, trust=True)


def argparse_namespace():
    import argparse
    return argparse.Namespace(lr=1.0)


KILLED_WRITER = '''
import os, signal, sys
from mixmim_plugin.engine.checkpoint_files import write_atomically

def half_then_killed(tmp):
    with open(tmp, 'wb') as f:
        f.write(b'PK' + b'x' * 1000)
        f.flush()
        os.kill(os.getpid(), signal.SIGKILL)

write_atomically(sys.argv[1], half_then_killed)
'''


def test_sigkill_during_a_write_leaves_the_old_file(tmp_path):
    path = tmp_path / 'epoch_1.pth'
    torch.save({'meta': {}, 'state_dict': {}, 'optimizer': {}}, path)
    before = path.read_bytes()
    done = subprocess.run([sys.executable, '-c', KILLED_WRITER, str(path)])
    assert done.returncode == -9
    assert path.read_bytes() == before
    verify_resumable(str(path))
    stale = [name for name in os.listdir(tmp_path) if name.startswith('.')]
    assert len(stale) == 1 and stale[0].startswith('.epoch_1.pth.tmp-')
    assert remove_stale_temporaries(str(tmp_path)) == stale
    assert os.listdir(tmp_path) == ['epoch_1.pth']


def test_a_failed_write_changes_nothing(tmp_path):
    path = str(tmp_path / 'last_checkpoint')

    def failing(tmp):
        with open(tmp, 'w') as f:
            f.write('half')
        raise OSError('disk full')

    with pytest.raises(OSError, match='disk full'):
        write_atomically(path, failing)
    assert os.listdir(tmp_path) == []


def test_checkpoint_discovery(tmp_path):
    for step in (2, 10, 1):
        torch.save({}, tmp_path / f'epoch_{step}.pth')
    torch.save({}, tmp_path / 'best_accuracy_epoch_3.pth')
    assert [osp.basename(p) for p in checkpoints_in(str(tmp_path))
            ] == ['epoch_10.pth', 'epoch_2.pth', 'epoch_1.pth']
    with pytest.raises(BrokenCheckpointError, match=r"holds no \['meta'"):
        verify_resumable(str(tmp_path / 'epoch_2.pth'))
    assert recorded_checkpoint(str(tmp_path)) is None
    (tmp_path / 'last_checkpoint').write_text('/elsewhere/run/epoch_2.pth')
    assert recorded_checkpoint(str(tmp_path)) == str(tmp_path / 'epoch_2.pth')


# ------------------------------------------------------------ the guard
class Toy(BaseModel):

    def __init__(self, width: int = 3) -> None:
        super().__init__()
        self.linear = nn.Linear(width, 1)

    def forward(self, inputs, data_samples=None, mode='loss'):
        out = self.linear(inputs)  # (B, width), default_collate
        return dict(loss=out.mean()) if mode == 'loss' else out


def test_guard_skips_non_finite_steps_and_counts_them():
    model = Toy()
    wrapper = guard(OptimWrapper(torch.optim.SGD(model.parameters(), lr=1.)))
    assert guard(wrapper) is wrapper
    weight = model.linear.weight
    before = weight.detach().clone()
    wrapper.update_params(weight.sum() * float('nan'))
    assert (wrapper.consecutive, wrapper.last_reason) == (1, 'loss')
    assert weight.grad is None or not weight.grad.any()
    # a gradient that overflowed: the step is not applied
    weight.grad = torch.full_like(weight, float('inf'))
    wrapper.step()
    assert (wrapper.consecutive, wrapper.last_reason) == (2, 'gradient')
    wrapper.zero_grad()
    torch.testing.assert_close(weight, before)
    wrapper.update_params(weight.sum())  # finite: applied, count reset
    assert wrapper.consecutive == 0 and wrapper.skipped == 2
    torch.testing.assert_close(weight, before - 1.)


# ------------------------------------------------------------- the runner
class Numbers(torch.utils.data.Dataset):

    def __init__(self, size: int, width: int = 3) -> None:
        self.data = torch.randn(
            size, width, generator=torch.Generator().manual_seed(0))

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index):
        return dict(inputs=self.data[index])


def toy_runner(tmp_path, width=3, size=8, momentum=0.) -> FaultTolerantRunner:
    return FaultTolerantRunner(
        model=Toy(width),
        work_dir=str(tmp_path),
        train_dataloader=dict(
            dataset=Numbers(size, width),
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=4,
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(
            optimizer=dict(type='SGD', lr=0.1, momentum=momentum)),
        train_cfg=dict(by_epoch=True, max_epochs=2),
        default_hooks=dict(
            checkpoint=dict(
                type='CheckpointHook', interval=1, max_keep_ckpts=1)),
        default_scope='mixmim_plugin')


def test_runner_rotates_after_saving_and_refuses_non_finite(tmp_path):
    runner = toy_runner(tmp_path)
    runner.train()
    assert sorted(f for f in os.listdir(tmp_path)
                  if f.endswith('.pth')) == ['epoch_2.pth']
    assert open(tmp_path / 'last_checkpoint').read().endswith('epoch_2.pth')
    with torch.no_grad():
        runner.model.linear.bias.fill_(float('nan'))
    with pytest.raises(
            NonFiniteCheckpointError,
            match=r"1 model tensors hold NaN or inf, e.g. "
            r"\['linear.bias'\]"):
        runner.save_checkpoint(str(tmp_path), 'epoch_3.pth')
    assert not osp.exists(tmp_path / 'epoch_3.pth')


def test_runner_drops_a_last_batch_of_one(tmp_path):
    runner = toy_runner(tmp_path, size=9)
    loop = runner.train_loop
    assert len(loop.dataloader) == 2 and loop.max_iters == 4


def test_optimizer_state_of_another_shape_is_named(tmp_path):
    """The model fits but the optimizer's momentum buffer does not."""
    runner = toy_runner(tmp_path, momentum=0.9)
    runner.train()
    checkpoint = torch.load(tmp_path / 'epoch_2.pth', weights_only=False)
    check_resume_shapes(runner.model, runner.optim_wrapper, checkpoint, 'x')
    slots = checkpoint['optimizer']['state']
    slots[0]['momentum_buffer'] = torch.zeros(1, 5)
    with pytest.raises(ResumeMismatchError) as error:
        check_resume_shapes(runner.model, runner.optim_wrapper, checkpoint,
                            'epoch_2.pth')
    assert str(error.value).startswith(
        'cannot resume from epoch_2.pth: 1 tensors have other shapes than '
        'this config builds (optimizer momentum_buffer of linear.weight: '
        'this run (1, 3), checkpoint (1, 5))')


# ------------------------------------------------------------------ data
def test_non_integer_label_names_the_file_and_line(tmp_path):
    path = tmp_path / 'train.txt'
    path.write_text('a/1.png 0\na/2.png 1\nb/3.png cat\n')
    with pytest.raises(ValueError) as error:
        check_image_list(str(path), 'train_dataloader.dataset.ann_file')
    assert str(error.value).startswith(f"{path}, line 3 (train_dataloader."
                                       "dataset.ann_file): the label 'cat'")
    path.write_text('a/1.png\na/2.png\n')  # self-supervised lists
    check_image_list(str(path), 'train_dataloader.dataset.ann_file')


def test_a_sample_that_fails_to_load_names_its_file():

    class Images(torch.utils.data.Dataset):

        def __len__(self):
            return 2

        def get_data_info(self, index):
            return dict(img_path=f'/data/train/{index}.JPEG', gt_label=0)

        def __getitem__(self, index):
            raise ValueError('cv2 assertion: !buf.empty()')

    with pytest.raises(SampleError) as error:
        SeededDataset(Images(), seed=0)[(0, 0, 1)]
    assert str(error.value) == (
        'training sample 1 (/data/train/1.JPEG) failed to load: ValueError: '
        'cv2 assertion: !buf.empty()')
