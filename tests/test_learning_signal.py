"""The learning-signal benchmark: schedule compression, scoring of frozen
encoders, verdicts and the tool end to end on a few iterations."""
import csv
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mixmim_tools.cli import learning_signal
from mixmim_tools.learning_signal import (FeatureEncoder, budget_config,
                                          input_size, pretrain,
                                          rescale_schedule, score_features,
                                          verdicts)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
MAE_TINY = osp.join(REPO, 'configs/mae/mae-tiny_1xb32_20e_embedded.py')
MOBY_TINY = osp.join(REPO, 'configs/moby/moby-swin-nano_1xb32_30e_embedded.py')
MIXMIM_TINY = osp.join(REPO,
                       'configs/mixmim/mixmim-tiny_1xb32_20e_embedded.py')


def test_rescale_schedule_keeps_the_shape():
    cfg = Config.fromfile(MAE_TINY)  # warm-up 2 of 20 epochs, then cosine
    rescale_schedule(cfg, 100)
    assert cfg.train_cfg == dict(type='IterBasedTrainLoop', max_iters=100)
    warmup, cosine = cfg.param_scheduler
    assert (warmup.type, warmup.begin, warmup.end) == ('LinearLR', 0, 10)
    assert (cosine.begin, cosine.end, cosine.T_max) == (10, 100, 90)
    assert not warmup.by_epoch and not cosine.by_epoch
    assert 'convert_to_iter_based' not in cosine


def test_rescale_schedule_drops_empty_and_rejects_mixed_units():
    cfg = Config(
        dict(
            train_cfg=dict(max_epochs=100),
            param_scheduler=[
                dict(type='LinearLR', by_epoch=True, begin=0, end=1),
                dict(type='CosineAnnealingLR', T_max=99, begin=1, end=100)
            ]))
    rescale_schedule(cfg, 10)  # the 1-epoch warm-up rounds to nothing
    assert [s.type for s in cfg.param_scheduler] == ['CosineAnnealingLR']
    assert cfg.param_scheduler[0].T_max == 10
    mixed = Config(
        dict(
            train_cfg=dict(max_epochs=10),
            param_scheduler=dict(type='LinearLR', by_epoch=False, end=5)))
    with pytest.raises(ValueError, match='LinearLR does not count epochs'):
        rescale_schedule(mixed, 10)
    with pytest.raises(ValueError, match='iters must be >= 1'):
        rescale_schedule(Config.fromfile(MAE_TINY), 0)


def test_budget_config_is_a_seeded_copy(tmp_path):
    cfg = Config.fromfile(MIXMIM_TINY)
    budget = budget_config(cfg, 7, 'some/root', str(tmp_path), seed=3)
    assert budget.train_cfg.max_iters == 7 and budget.randomness.seed == 3
    assert budget.default_hooks.checkpoint is None
    assert budget.train_dataloader.dataset.data_root == 'some/root'
    assert cfg.train_cfg.type == 'EpochBasedTrainLoop'  # not changed
    assert input_size(cfg) == 128


def test_pretrain_keeps_initial_weights_and_logs(embedded_data, tmp_path):
    """MoBY (which logs its momentum through a custom log config) for two
    iterations: the initial backbone is a copy, the trained one moved."""
    cfg = budget_config(
        Config.fromfile(MOBY_TINY),
        2,
        embedded_data['imagenet'],
        str(tmp_path),
        num_workers=0)
    cfg.train_dataloader.batch_size = 8
    result = pretrain(cfg)
    initial = dict(result.initial.named_parameters())
    moved = [
        name for name, p in result.trained.named_parameters()
        if not torch.equal(p, initial[name])
    ]
    assert moved and result.initial is not result.trained
    assert result.first_loss > 0 and result.seconds > 0


def test_feature_encoder_encodes_the_whole_image():
    from mmpretrain.models import MAEViT
    vit = MAEViT(
        arch=dict(
            embed_dims=32, num_layers=1, num_heads=2, feedforward_channels=64),
        img_size=32,
        patch_size=16,
        out_type='avg_featmap',
        mask_ratio=0.75)
    encoder = FeatureEncoder(vit)
    assert encoder.unmasked
    out = encoder(torch.randn(2, 3, 32, 32))
    assert out[-1].shape == (2, 32)  # all 4 patches, no masking


def test_score_features_separates_learnable_from_noise():
    torch.manual_seed(0)
    labels = torch.arange(4).repeat(30)
    centres = torch.randn(4, 8) * 3
    feats = centres[labels] + torch.randn(120, 8) * 0.5
    train, val = (feats[:80], labels[:80]), (feats[80:], labels[80:])
    good = score_features(train, val, k=5, probe_epochs=50)
    noise = score_features((torch.randn(80, 8), labels[:80]),
                           (torch.randn(40, 8), labels[80:]),
                           k=5,
                           probe_epochs=50)
    assert good['knn'] > 0.9 and good['probe'] > 0.9
    assert noise['knn'] < 0.6 and noise['probe'] < 0.6


def test_verdicts_say_when_random_init_wins():
    rows = [
        dict(
            method='A',
            knn_trained=0.5,
            knn_random=0.3,
            probe_trained=0.6,
            probe_random=0.4),
        dict(
            method='B',
            knn_trained=0.3,
            knn_random=0.3,
            probe_trained=0.6,
            probe_random=0.4),
    ]
    lines = verdicts(rows)
    assert lines[0] == ('A: beats random init on k-NN (+0.200) and linear '
                        'probe (+0.200)')
    assert lines[1] == ('B: does NOT beat random init on k-NN (0.300 vs '
                        'random 0.300)')


def test_tool_end_to_end(embedded_data, tmp_path, capsys):
    data = osp.dirname(embedded_data['imagenet'])
    out = tmp_path / 'signal'
    broken = tmp_path / 'unbuildable.py'  # loads, but cannot be built
    broken.write_text(f"_base_ = '{MAE_TINY}'\nmodel = dict(type='NoSuch')\n")
    code = learning_signal.main([
        str(broken), MAE_TINY, '--iters', '3', '--data', data, '--out-dir',
        str(out), '--probe-epochs', '5', '--num-workers', '0'
    ])
    captured = capsys.readouterr()
    assert code == 1  # one config failed; the other was still measured
    assert f'error: {broken}: KeyError' in captured.err
    with open(out / 'learning_signal.csv') as f:
        (row, ) = list(csv.DictReader(f))
    assert row['method'] == 'MAE' and row['iters'] == '3'
    for key in ('knn_random', 'knn_trained', 'probe_random', 'probe_trained'):
        assert 0.0 <= float(row[key]) <= 1.0
    assert float(row['first_loss']) > 0 and float(row['last_loss']) > 0
    assert row['first_loss'] != row['last_loss']
    table = (out / 'learning_signal.md').read_text()
    assert '| MAE | 3 |' in table and 'random init' in table
    assert 'MAE: ' in captured.out


def test_tool_names_a_broken_config(tmp_path, capsys):
    broken = tmp_path / 'broken.py'
    broken.write_text('model = dict(\n')
    code = learning_signal.main([str(broken), '--out-dir', str(tmp_path)])
    assert code == 1
    assert f'{broken}: cannot load the config' in capsys.readouterr().err
    assert not (tmp_path / 'learning_signal.md').exists()
