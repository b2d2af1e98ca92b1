"""Two gloo processes on the CPU: identical queues on both ranks, keys
gathered in rank order, BatchNorm statistics synchronised (torch's
SyncBatchNorm refuses CPU tensors), and tools/dist_train.sh end to end."""
import glob
import json
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest
import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp
from torch import nn

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
WORLD = 2
BATCH = 3  # per process
QUEUE = 20  # 6 steps x 6 keys = 36: wraps around once
STEPS = 6
BN_ROWS = (4, 7)  # rows of the BatchNorm input on rank 0 and rank 1

pytestmark = [pytest.mark.slow, pytest.mark.dist]


def _moby_cfg() -> dict:
    mlp = dict(
        type='NonLinearNeck',
        hid_channels=32,
        out_channels=8,
        with_bias=True,
        with_last_bn=False,
        with_last_bias=True,
        with_avg_pool=False)
    return dict(
        type='MoBY',
        backbone=dict(
            type='VisionTransformer',
            arch=dict(
                embed_dims=16,
                num_layers=1,
                num_heads=2,
                feedforward_channels=32),
            img_size=16,
            patch_size=8,
            out_type='cls_token'),
        neck=dict(mlp, in_channels=16),
        predictor=dict(mlp, in_channels=8),
        head=dict(
            type='ContrastiveHead',
            loss=dict(type='CrossEntropyLoss'),
            temperature=0.2),
        queue_len=QUEUE,
        feat_dim=8)


def _train_moby(rank: int, out_dir: str) -> None:
    """A few DDP steps of a tiny MoBY with a different seed (model init and
    data) on each rank; saves the queues and the keys each rank enqueued."""
    from mmengine.logging import MessageHub
    from mmengine.model import MMDistributedDataParallel
    from mmengine.optim import OptimWrapper
    from mmengine.registry import DefaultScope
    from mmpretrain.structures import DataSample

    from mixmim_plugin.registry import MODELS

    torch.manual_seed(100 + rank)
    MessageHub.get_current_instance().update_info('max_iters', STEPS)
    with DefaultScope.overwrite_default_scope('mixmim_plugin'):
        model = MODELS.build(_moby_cfg())
    model.init_weights()
    enqueued, own_keys = [], []
    enqueue, target_key = model.enqueue, model.target_key

    def recording_enqueue(keys):
        enqueued.append(keys.clone())
        enqueue(keys)

    def recording_target_key(view):
        own_keys.append(target_key(view))
        return own_keys[-1]

    model.enqueue = recording_enqueue
    model.target_key = recording_target_key
    ddp = MMDistributedDataParallel(
        module=model, device_ids=None, broadcast_buffers=False)
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    for _ in range(STEPS):
        data = dict(
            inputs=[
                torch.randint(0, 255, (BATCH, 3, 16, 16), dtype=torch.uint8)
                for _ in range(2)
            ],
            data_samples=[DataSample() for _ in range(BATCH)])
        ddp.train_step(data, optim)
    torch.save(
        dict(
            queues=model.queues,
            queue_ptr=model.queue_ptr,
            steps=model.target.steps,
            enqueued=enqueued,
            own_keys=own_keys,
            params=[p.detach() for p in model.online_encoder().parameters()],
            target=[p.detach() for p in model.target.parameters()]),
        osp.join(out_dir, f'moby_rank{rank}.pth'))


def _sync_bn(rank: int, out_dir: str) -> None:
    """PortableSyncBatchNorm forward/backward on per-rank inputs of
    different sizes; torch's SyncBatchNorm on the same CPU input."""
    from mixmim_plugin.models.utils import PortableSyncBatchNorm

    generator = torch.Generator().manual_seed(rank)
    x = torch.randn(BN_ROWS[rank], 5, 3, generator=generator) * 3 + 1
    x.requires_grad_(True)
    weight = torch.randn(BN_ROWS[rank], 5, 3, generator=generator)
    bn = PortableSyncBatchNorm(5, momentum=0.3)
    with torch.no_grad():
        bn.weight.copy_(torch.linspace(0.5, 1.5, 5))
        bn.bias.copy_(torch.linspace(-1, 1, 5))
    out = bn(x)
    (out * weight).sum().backward()
    try:
        nn.SyncBatchNorm(5).train()(x.detach())
        torch_error = ''
    except ValueError as error:
        torch_error = str(error)
    torch.save(
        dict(
            x=x.detach(),
            weight=weight,
            out=out.detach(),
            grad=x.grad,
            weight_grad=bn.weight.grad,
            bias_grad=bn.bias.grad,
            running_mean=bn.running_mean,
            running_var=bn.running_var,
            torch_error=torch_error), osp.join(out_dir, f'bn_rank{rank}.pth'))


def _worker(rank: int, out_dir: str) -> None:
    import mixmim_plugin  # noqa: F401

    torch.set_num_threads(1)
    torch_dist.init_process_group(
        'gloo',
        init_method='file://' + osp.join(out_dir, 'store'),
        rank=rank,
        world_size=WORLD)
    try:
        _sync_bn(rank, out_dir)
        _train_moby(rank, out_dir)
    finally:
        torch_dist.destroy_process_group()


@pytest.fixture(scope='module')
def two_ranks(tmp_path_factory):
    out_dir = str(tmp_path_factory.mktemp('moby_dist'))
    mp.spawn(_worker, args=(out_dir, ), nprocs=WORLD, join=True)
    return [
        dict(
            moby=torch.load(osp.join(out_dir, f'moby_rank{r}.pth')),
            bn=torch.load(osp.join(out_dir, f'bn_rank{r}.pth')))
        for r in range(WORLD)
    ]


def test_queues_are_identical_on_both_ranks(two_ranks):
    rank0, rank1 = (r['moby'] for r in two_ranks)
    assert torch.equal(rank0['queues'], rank1['queues'])
    assert int(rank0['queue_ptr']) == int(
        rank1['queue_ptr']) == (STEPS * WORLD * BATCH) % QUEUE
    assert int(rank0['steps']) == STEPS
    # DDP keeps the online encoders equal, hence the targets too
    for a, b in zip(rank0['params'], rank1['params']):
        torch.testing.assert_close(a, b)
    for a, b in zip(rank0['target'], rank1['target']):
        torch.testing.assert_close(a, b)


def test_keys_are_gathered_in_rank_order(two_ranks):
    rank0, rank1 = (r['moby'] for r in two_ranks)
    for step in range(STEPS):
        enqueued = rank0['enqueued'][step]  # (2, WORLD * BATCH, 8)
        assert torch.equal(enqueued, rank1['enqueued'][step])
        for view in range(2):
            own = [r['own_keys'][2 * step + view] for r in (rank0, rank1)]
            torch.testing.assert_close(enqueued[view], torch.cat(own))
    # the last step's keys are the newest queue entries
    ptr = int(rank0['queue_ptr'])
    index = torch.arange(ptr - WORLD * BATCH, ptr) % QUEUE
    torch.testing.assert_close(rank0['queues'][:, index],
                               rank0['enqueued'][-1])


def test_batch_norm_is_synchronised_on_cpu(two_ranks):
    bn0, bn1 = (r['bn'] for r in two_ranks)
    x = torch.cat([bn0['x'], bn1['x']]).requires_grad_(True)
    weight = torch.cat([bn0['weight'], bn1['weight']])
    reference = nn.BatchNorm1d(5, momentum=0.3)
    with torch.no_grad():
        reference.weight.copy_(torch.linspace(0.5, 1.5, 5))
        reference.bias.copy_(torch.linspace(-1, 1, 5))
    out = reference(x)
    (out * weight).sum().backward()
    rows = BN_ROWS[0]
    torch.testing.assert_close(torch.cat([bn0['out'], bn1['out']]), out)
    torch.testing.assert_close(torch.cat([bn0['grad'], bn1['grad']]), x.grad)
    # parameter gradients: each rank holds its share (DDP sums them)
    torch.testing.assert_close(bn0['weight_grad'] + bn1['weight_grad'],
                               reference.weight.grad)
    torch.testing.assert_close(bn0['bias_grad'] + bn1['bias_grad'],
                               reference.bias.grad)
    for bn in (bn0, bn1):
        torch.testing.assert_close(bn['running_mean'], reference.running_mean)
        torch.testing.assert_close(bn['running_var'], reference.running_var)
    # per-process statistics would differ: the sync changes the output
    local = nn.functional.batch_norm(bn0['x'], None, None, training=True)
    assert not torch.allclose(local, out[:rows].detach(), atol=1e-3)


def test_torch_sync_batch_norm_refuses_cpu_tensors(two_ranks):
    for rank in two_ranks:
        assert 'expected input tensor to be on GPU' in rank['bn'][
            'torch_error']


def test_dist_train_script(embedded_data, tmp_path):
    """tools/dist_train.sh CONFIG 2 on the embedded data: two gloo
    processes, synchronised BN and key gathering in a real runner."""
    work_dir = str(tmp_path / 'work')
    with socket.socket() as sock:  # a free port for the rendezvous
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    env = dict(os.environ, PORT=str(port), OMP_NUM_THREADS='1')
    data_root = embedded_data['imagenet'] + '/'
    cmd = [
        'bash',
        osp.join(ROOT, 'tools', 'dist_train.sh'),
        osp.join(ROOT, 'configs', 'moby',
                 'moby-swin-nano_1xb32_30e_embedded.py'), '2', '--work-dir',
        work_dir, '--cfg-options', f'train_dataloader.dataset.data_root='
        f'{data_root}', 'train_dataloader.dataset.indices=16',
        'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False', 'train_cfg.max_epochs=1',
        'model.queue_len=12', 'default_hooks.logger.interval=1'
    ]
    env['PATH'] = osp.dirname(sys.executable) + os.pathsep + env['PATH']
    result = subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    assert 'with the gloo backend' in result.stdout + result.stderr
    logs = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    assert logs, os.listdir(work_dir)
    with open(logs[0]) as f:
        records = [json.loads(line) for line in f]
    momenta = [r['momentum'] for r in records if 'momentum' in r]
    # 16 images / (2 processes x 4) = 2 iterations: k = 0, 1 of K = 2
    assert momenta == pytest.approx([0.99, 0.995])
    checkpoint = torch.load(
        osp.join(work_dir, 'epoch_1.pth'), weights_only=False)
    # 2 iterations x 2 processes x 4 keys, in a queue of 12
    assert int(checkpoint['state_dict']['queue_ptr']) == 16 % 12
