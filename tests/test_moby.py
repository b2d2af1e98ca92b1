"""MoBY: queues, momentum target, loss, drop path, bad inputs, BN sync on one
process, the BN-before-MLP Swin and the NumPy-2-safe colour jitter."""
import copy
import math
import uuid

import cv2
import mmcv
import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.registry import DefaultScope
from torch import nn

from mixmim_plugin.datasets.transforms import HueSafeColorJitter, shift_hue
from mixmim_plugin.models import MoBY, moby_momentum
from mixmim_plugin.models.backbones import MoBYSwinTransformer, TokenBatchNorm
from mixmim_plugin.models.utils import PortableSyncBatchNorm
from mixmim_plugin.registry import MODELS

FEAT = 8
IMG = 16


def tiny_cfg(**kwargs) -> dict:
    """A MoBY with a 1-layer 16-channel ViT on 16x16 images."""
    cfg = dict(
        type='MoBY',
        backbone=dict(
            type='VisionTransformer',
            arch=dict(
                embed_dims=16,
                num_layers=2,
                num_heads=2,
                feedforward_channels=32),
            img_size=IMG,
            patch_size=8,
            out_type='cls_token'),
        neck=dict(
            type='NonLinearNeck',
            in_channels=16,
            hid_channels=32,
            out_channels=FEAT,
            with_bias=True,
            with_last_bn=False,
            with_last_bias=True,
            with_avg_pool=False),
        predictor=dict(
            type='NonLinearNeck',
            in_channels=FEAT,
            hid_channels=32,
            out_channels=FEAT,
            with_bias=True,
            with_last_bn=False,
            with_last_bias=True,
            with_avg_pool=False),
        head=dict(
            type='ContrastiveHead',
            loss=dict(type='CrossEntropyLoss'),
            temperature=0.2),
        queue_len=10,
        feat_dim=FEAT)
    cfg.update(kwargs)
    return cfg


def build(cfg: dict) -> MoBY:
    with DefaultScope.overwrite_default_scope('mixmim_plugin'):
        return MODELS.build(cfg)


@pytest.fixture
def max_iters():
    """A fresh current MessageHub publishing 'max_iters' (as the runner)."""

    def publish(total: int) -> MessageHub:
        hub = MessageHub.get_instance(f'test_moby_{uuid.uuid4().hex}')
        hub.update_info('max_iters', total)
        return hub

    return publish


def views(batch: int = 4, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    return [
        torch.randn(batch, 3, IMG, IMG, generator=generator) for _ in range(2)
    ]


# ------------------------------------------------------------------ momentum
def test_momentum_schedule():
    total = 1000
    assert moby_momentum(0, total, 0.99) == pytest.approx(0.99)
    assert moby_momentum(total // 2, total, 0.99) == pytest.approx(0.995)
    assert moby_momentum(total, total, 0.99) == pytest.approx(1.0)
    assert moby_momentum(
        total // 4, total,
        0.99) == pytest.approx(1 - 0.01 * (math.cos(math.pi / 4) + 1) / 2)
    assert moby_momentum(total + 5, total, 0.99) == 1.0  # clamped
    values = [moby_momentum(k, total, 0.99) for k in range(total + 1)]
    assert values == sorted(values)  # monotone
    with pytest.raises(ValueError, match='total number of iterations'):
        moby_momentum(0, 0, 0.99)


def test_target_gets_no_gradient_and_follows_momentum_rule(max_iters):
    total, step = 10, 4
    max_iters(total)
    model = build(tiny_cfg(online_drop_path_rate=0.0))
    model.target.steps.fill_(step)  # past the initial copy step
    with torch.no_grad():  # make online and target differ
        for param in model.online_encoder().parameters():
            param.add_(torch.randn_like(param) * 0.1)
    target_before = {
        k: v.clone()
        for k, v in model.target.module.named_parameters()
    }
    online = {
        k: v.clone()
        for k, v in model.online_encoder().named_parameters()
    }
    losses = model.loss(views(), None)
    m = moby_momentum(step, total, 0.99)
    assert losses['momentum'].item() == pytest.approx(m)
    assert int(model.target.steps) == step + 1
    for name, param in model.target.module.named_parameters():
        expected = m * target_before[name] + (1 - m) * online[name]
        torch.testing.assert_close(param, expected, rtol=0, atol=1e-6)
        assert not param.requires_grad
    losses['loss'].backward()
    assert all(p.grad is None for p in model.target.parameters())
    grads = [p.grad for p in model.online_encoder().parameters()]
    assert all(g is not None for g in grads)
    assert all(p.grad is not None for p in model.predictor.parameters())


def test_target_starts_as_a_copy(max_iters):
    max_iters(10)
    model = build(tiny_cfg())
    model.init_weights()  # re-draws the online weights, then copies
    online = model.online_encoder().state_dict()
    for name, value in model.target.module.state_dict().items():
        assert torch.equal(value, online[name]), name
    # the first update (k = 0) keeps the target equal to the online encoder
    model.loss(views(), None)
    for name, value in model.target.module.named_parameters():
        assert torch.equal(
            value,
            dict(model.online_encoder().named_parameters())[name])


def test_pretrained_init_keeps_the_checkpoint_target(tmp_path):
    source = build(tiny_cfg())
    with torch.no_grad():
        for param in source.target.parameters():
            param.add_(1.0)
    path = str(tmp_path / 'moby.pth')
    torch.save(dict(state_dict=source.state_dict()), path)
    model = build(tiny_cfg(pretrained=path))
    model.init_weights()
    for name, value in model.state_dict().items():
        assert torch.equal(value, source.state_dict()[name]), name


def test_momentum_needs_the_total_iterations():
    MessageHub.get_instance(f'test_moby_{uuid.uuid4().hex}')  # no max_iters
    model = build(tiny_cfg())
    with pytest.raises(RuntimeError, match="'max_iters'"):
        model.loss(views(), None)


# -------------------------------------------------------------------- queue
def test_queue_order_and_wraparound():
    model = build(tiny_cfg(queue_len=5, feat_dim=2))
    initial = model.queues.clone()
    keys = torch.arange(1., 13.).view(6, 2)  # six keys, enqueued by twos
    model.enqueue(torch.stack([keys[0:2], -keys[0:2]]))
    assert int(model.queue_ptr) == 2
    assert torch.equal(model.queues[0, :2], keys[0:2])
    assert torch.equal(model.queues[1, :2], -keys[0:2])
    assert torch.equal(model.queues[:, 2:], initial[:, 2:])
    model.enqueue(torch.stack([keys[2:4], -keys[2:4]]))
    # batch 2 does not divide 5: the third batch wraps around
    model.enqueue(torch.stack([keys[4:6], -keys[4:6]]))
    assert int(model.queue_ptr) == 1
    expected = torch.stack([keys[5], keys[1], keys[2], keys[3], keys[4]])
    assert torch.equal(model.queues[0], expected)
    assert torch.equal(model.queues[1], -expected)


def test_queue_rejects_oversized_batches_and_wrong_dims():
    model = build(tiny_cfg(queue_len=3, feat_dim=2))
    with pytest.raises(ValueError, match='do not fit in a queue of 3'):
        model.enqueue(torch.ones(2, 4, 2))
    with pytest.raises(ValueError, match='feat_dim=2'):
        model.enqueue(torch.ones(2, 2, 5))


def test_initial_queues_identical_across_builds_and_unit():
    torch.manual_seed(1)
    a = build(tiny_cfg())
    torch.manual_seed(2)
    b = build(tiny_cfg())
    assert torch.equal(a.queues, b.queues)
    assert a.queues.shape == (2, 10, FEAT)
    torch.testing.assert_close(a.queues.norm(dim=2), torch.ones(2, 10))


def test_loss_enqueues_keys_of_both_views(max_iters):
    max_iters(10)
    model = build(tiny_cfg(online_drop_path_rate=0.0))
    inputs = views(batch=3)
    reference = copy.deepcopy(model)
    reference.momentum_update()
    keys = [reference.target_key(v) for v in inputs]
    model.loss(inputs, None)
    assert int(model.queue_ptr) == 3
    torch.testing.assert_close(model.queues[0, :3], keys[0])
    torch.testing.assert_close(model.queues[1, :3], keys[1])


# --------------------------------------------------------------------- loss
def test_contrastive_loss_hand_computed():
    model = build(tiny_cfg())
    query = torch.tensor([[1., 0.], [0., 1.]])
    key = torch.tensor([[0.6, 0.8], [0., 1.]])
    queue = torch.tensor([[0., 1.], [-1., 0.]])
    # sample 1: logits (0.6, 0, -1) / 0.2 = (3, 0, -5)
    # sample 2: logits (1, 1, 0) / 0.2 = (5, 5, 0)
    loss1 = math.log(1 + math.exp(-3) + math.exp(-8))
    loss2 = math.log(2 + math.exp(-5))
    value = model.contrastive_loss(query, key, queue)
    assert value.item() == pytest.approx((loss1 + loss2) / 2, rel=1e-6)


def test_loss_is_the_symmetric_sum_and_symmetric_in_views(max_iters):
    max_iters(10)
    model = build(tiny_cfg(online_drop_path_rate=0.0))
    view1, view2 = views()
    # the same state with the two queues exchanged, fed the views swapped
    swapped = copy.deepcopy(model)
    swapped.queues.copy_(model.queues.flip(0))
    reference = copy.deepcopy(model)
    loss = model.loss([view1, view2], None)['loss']
    loss_swapped = swapped.loss([view2, view1], None)['loss']
    torch.testing.assert_close(loss, loss_swapped)
    # and equals L(q1, k2, queue2) + L(q2, k1, queue1) computed by hand
    queues = reference.queues.clone()
    q1, q2 = reference.predict_query(view1), reference.predict_query(view2)
    reference.momentum_update()
    k1, k2 = reference.target_key(view1), reference.target_key(view2)
    by_hand = 0.
    for q, k, queue in ((q1, k2, queues[1]), (q2, k1, queues[0])):
        logits = torch.cat([(q * k).sum(1, keepdim=True), q @ queue.t()], 1)
        by_hand = by_hand + nn.functional.cross_entropy(
            logits / 0.2, torch.zeros(len(q), dtype=torch.long))
    torch.testing.assert_close(loss, by_hand)


# ---------------------------------------------------------------- drop path
def drop_probs(module: nn.Module):
    return [
        m.drop_prob for m in module.modules() if type(m).__name__ == 'DropPath'
    ]


@pytest.mark.parametrize('online,target', [(0.2, 0.0), (0.3, 0.1)])
def test_online_and_target_drop_path_differ(online, target):
    model = build(
        tiny_cfg(online_drop_path_rate=online, target_drop_path_rate=target))
    online_probs = drop_probs(model.backbone)
    target_probs = drop_probs(model.target)
    assert online_probs and len(online_probs) == len(target_probs)
    assert max(online_probs) == pytest.approx(online)
    assert max(target_probs) == pytest.approx(target)


# ------------------------------------------------------------ bad arguments
@pytest.mark.parametrize('queue_len', [0, -4, 2.5])
def test_queue_len_must_be_positive(queue_len):
    with pytest.raises(ValueError, match='queue_len must be a positive'):
        build(tiny_cfg(queue_len=queue_len))


@pytest.mark.parametrize('temperature', [0.0, -0.2])
def test_temperature_must_be_positive(temperature):
    cfg = tiny_cfg()
    cfg['head']['temperature'] = temperature
    with pytest.raises(ValueError, match='temperature of the head must be'):
        build(cfg)


@pytest.mark.parametrize('kwargs,match', [
    (dict(base_momentum=1.0), 'base_momentum'),
    (dict(base_momentum=0.0), 'base_momentum'),
    (dict(online_drop_path_rate=1.0), 'online_drop_path_rate'),
    (dict(target_drop_path_rate=-0.1), 'target_drop_path_rate'),
    (dict(feat_dim=0), 'feat_dim'),
])
def test_other_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build(tiny_cfg(**kwargs))


def test_drop_path_rate_in_backbone_is_refused():
    cfg = tiny_cfg()
    cfg['backbone']['drop_path_rate'] = 0.1
    with pytest.raises(ValueError, match='online_drop_path_rate'):
        build(cfg)


def test_single_view_pipeline_is_refused(max_iters):
    """A pipeline without MultiView packs one tensor per image; the data
    preprocessor stacks them into one batch tensor."""
    max_iters(10)
    model = build(tiny_cfg())
    batch = dict(
        inputs=torch.randint(0, 255, (4, 3, IMG, IMG), dtype=torch.uint8),
        data_samples=[None] * 4)
    data = model.data_preprocessor(batch, training=True)
    with pytest.raises(ValueError, match='two augmented views'):
        model(**data, mode='loss')
    with pytest.raises(ValueError, match='exactly 2 views'):
        model.loss(views()[:1], None)
    with pytest.raises(ValueError, match='different batch sizes'):
        model.loss([views()[0], views(batch=3)[0]], None)


# ------------------------------------------------------------- BatchNorm sync
def test_every_batch_norm_is_synchronised():
    model = build(tiny_cfg())
    bns = [
        m for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
    ]
    # projector and predictor (online), projector (target)
    assert len(bns) == 3
    assert all(isinstance(m, PortableSyncBatchNorm) for m in bns)
    plain = build(tiny_cfg(sync_bn=False))
    assert not any(
        isinstance(m, PortableSyncBatchNorm) for m in plain.modules())


def test_portable_sync_bn_is_batch_norm_in_one_process():
    torch.manual_seed(0)
    bn = nn.BatchNorm1d(5, momentum=0.2)
    with torch.no_grad():
        bn.weight.uniform_()
        bn.bias.uniform_()
    portable = PortableSyncBatchNorm.convert(copy.deepcopy(bn))
    assert isinstance(portable, PortableSyncBatchNorm)
    x = torch.randn(6, 5, 3)
    torch.testing.assert_close(portable(x), bn(x))
    torch.testing.assert_close(portable.running_var, bn.running_var)
    # nested layers are converted in place and keep their parameters
    seq = nn.Sequential(nn.Linear(5, 5), copy.deepcopy(bn))
    converted = PortableSyncBatchNorm.convert(seq)
    assert converted is seq and isinstance(seq[1], PortableSyncBatchNorm)
    assert torch.equal(seq[1].weight, bn.weight)


# -------------------------------------------------- Swin with BN before MLP
def test_swin_with_batch_norm_before_mlp():
    arch = dict(embed_dims=16, depths=[1, 1], num_heads=[1, 2])
    net = MoBYSwinTransformer(
        norm_before_mlp='bn',
        arch=arch,
        img_size=32,
        window_size=4,
        out_indices=(1, ))
    blocks = [block for stage in net.stages for block in stage.blocks]
    assert all(isinstance(b.norm2, TokenBatchNorm) for b in blocks)
    assert all(isinstance(b.norm1, nn.LayerNorm) for b in blocks)
    out = net(torch.randn(2, 3, 32, 32))
    assert out[0].shape == (2, 32, 4, 4)
    with pytest.raises(ValueError, match='norm_before_mlp'):
        MoBYSwinTransformer(norm_before_mlp='gn', arch=arch)
    cfg = tiny_cfg()
    cfg['backbone'] = dict(
        type='MoBYSwinTransformer',
        norm_before_mlp='bn',
        arch=arch,
        img_size=IMG,
        window_size=2,
        out_indices=(1, ))
    cfg['neck'].update(in_channels=32, with_avg_pool=True)
    model = build(cfg)
    token_bns = [m for m in model.modules() if isinstance(m, TokenBatchNorm)]
    assert len(token_bns) == 4  # 2 blocks, online and target
    assert all(isinstance(m.bn, PortableSyncBatchNorm) for m in token_bns)


# ------------------------------------------------------------ colour jitter
def test_shift_hue_matches_mmcv_and_handles_negative_shifts():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    for factor in (0.0, 0.05, 0.1, 0.5):
        assert np.array_equal(
            shift_hue(img, factor), mmcv.adjust_hue(img, factor, 'cv2'))
    # -0.1 turns: a hue shift of int(-25.5) = -25 = +231 (mod 256)
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV_FULL)
    hsv[..., 0] = ((hsv[..., 0].astype(int) + 231) % 256).astype(np.uint8)
    assert np.array_equal(
        shift_hue(img, -0.1), cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR_FULL))
    with pytest.raises(ValueError, match='hue_factor'):
        shift_hue(img, 0.7)


def test_hue_safe_color_jitter_draws_negative_hues():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    jitter = HueSafeColorJitter(
        brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)
    np.random.seed(0)
    for _ in range(20):  # about half of the hue draws are negative
        out = jitter(dict(img=img.copy()))['img']
        assert out.shape == img.shape and out.dtype == np.uint8
    hue_only = HueSafeColorJitter(hue=(-0.1, -0.1))
    assert np.array_equal(
        hue_only(dict(img=img.copy()))['img'], shift_hue(img, -0.1))


def test_moby_modules_are_registered():
    from mmcv.cnn import build_norm_layer

    from mixmim_plugin.registry import TRANSFORMS
    for cls in (MoBY, MoBYSwinTransformer, PortableSyncBatchNorm,
                TokenBatchNorm):
        assert MODELS.get(cls.__name__) is cls
    assert TRANSFORMS.get('HueSafeColorJitter') is HueSafeColorJitter
    with DefaultScope.overwrite_default_scope('mixmim_plugin'):
        name, layer = build_norm_layer(dict(type='PortableSyncBatchNorm'), 4)
    assert name == 'bn' and isinstance(layer, PortableSyncBatchNorm)
