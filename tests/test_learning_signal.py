"""The learning-signal benchmark: schedule compression, scoring of frozen
encoders, the transfer protocols' configs, the report and the tool end to
end on a few iterations of every protocol."""
import argparse
import csv
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mixmim_tools.cli import learning_signal
from mixmim_tools.configs import load_config
from mixmim_tools.downstream import transfer_config, transfer_configs
from mixmim_tools.learning_signal import (FeatureEncoder, budget_config,
                                          input_size, last_checkpoint,
                                          pretrain, rescale_schedule,
                                          score_features)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
MAE_TINY = osp.join(REPO, 'configs/mae/mae-tiny_1xb32_20e_embedded.py')
MOBY_TINY = osp.join(REPO, 'configs/moby/moby-swin-nano_1xb32_30e_embedded.py')
MIXMIM_TINY = osp.join(REPO,
                       'configs/mixmim/mixmim-tiny_1xb32_20e_embedded.py')
DROPPOS_TINY = osp.join(REPO,
                        'configs/droppos/droppos-tiny_1xb32_20e_embedded.py')
BENCHMARKS = osp.join(REPO, 'configs/mixmim/benchmarks')
MIXMIM_DET = osp.join(BENCHMARKS,
                      'mask-rcnn_mixmim-tiny_fpn_1xb4-1e_embedded.py')
MIXMIM_FT = osp.join(BENCHMARKS, 'mixmim-tiny_1xb32-ft-2e_embedded.py')


def test_rescale_schedule_keeps_the_shape():
    cfg = Config.fromfile(MAE_TINY)  # warm-up 2 of 20 epochs, then cosine
    rescale_schedule(cfg, 100)
    assert cfg.train_cfg == dict(
        type='IterBasedTrainLoop', max_iters=100, val_interval=100)
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


def test_rescale_schedule_counts_iterations_of_an_epoch_loop():
    """A detection-style schedule: iteration warm-up in an epoch loop and
    epoch milestones."""
    cfg = Config(
        dict(
            train_cfg=dict(max_epochs=12),
            param_scheduler=[
                dict(type='LinearLR', by_epoch=False, begin=0, end=60),
                dict(type='MultiStepLR', end=12, milestones=[8, 11])
            ]))
    rescale_schedule(cfg, 24, iters_per_epoch=10)  # 120 -> 24 iterations
    warmup, steps = cfg.param_scheduler
    assert (warmup.begin, warmup.end) == (0, 12)
    assert (steps.end, steps.milestones) == (24, [16, 22])
    assert not steps.by_epoch


def test_budget_config_is_a_seeded_copy(tmp_path):
    cfg = Config.fromfile(MIXMIM_TINY)
    budget = budget_config(cfg, 7, 'some/root', str(tmp_path), seed=3)
    assert budget.train_cfg.max_iters == 7 and budget.randomness.seed == 3
    assert budget.default_hooks.checkpoint.interval == 7
    assert last_checkpoint(budget) == osp.join(str(tmp_path), 'iter_7.pth')
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
    assert good['knn'] > 0.9 and good['linear'] > 0.9
    assert noise['knn'] < 0.6 and noise['linear'] < 0.6


def test_transfer_configs_are_found_by_their_pretraining():
    assert transfer_configs(MIXMIM_TINY, 'finetune') == [MIXMIM_FT]
    assert transfer_configs(MIXMIM_TINY, 'det') == [MIXMIM_DET]
    assert [osp.basename(c) for c in transfer_configs(MAE_TINY, 'seg')
            ] == ['upernet_vit-tiny-p16_1xb4-20i_embedded.py']
    assert [osp.basename(c) for c in transfer_configs(MOBY_TINY, 'finetune')
            ] == ['swin-nano_1xb32_10e_embedded.py']
    assert transfer_configs(DROPPOS_TINY, 'det') == []


def test_transfer_config_changes_only_data_start_seed_and_length(
        embedded_data, tmp_path):
    cfg = load_config(MIXMIM_DET)
    run = transfer_config(
        cfg, embedded_data, 'a/ckpt.pth', str(tmp_path), seed=5, iters=24)
    assert run.model.backbone.init_cfg.checkpoint == 'a/ckpt.pth'
    assert run.train_dataloader.dataset.data_root == embedded_data['coco']
    assert run.train_cfg == dict(
        type='IterBasedTrainLoop', max_iters=24, val_interval=24)
    # the 4-iteration warm-up of 12 iterations (1 epoch of 48 images at
    # batch 4), stretched to 24
    assert run.param_scheduler[0].end == 8
    assert run.randomness.seed == 5 and run.default_hooks.checkpoint is None
    assert run.model.roi_head == cfg.model.roi_head  # same class set
    assert cfg.train_cfg.max_epochs == 1  # not changed


def test_report_counts_rows_where_pretraining_wins():
    report = learning_signal.Report()
    report.rows = [
        learning_signal.result_row('A', 'knn', 'a.py', 5, 'k-NN top-1', 0.3,
                                   0.5, 1.0),
        learning_signal.result_row('A', 'det', 'b.py', 5, 'bbox AP', 0.2, 0.2,
                                   1.0),
    ]
    assert [r['beats_random'] for r in report.rows] == ['yes', 'no']
    report.error('c.py', RuntimeError('boom'))
    lines = report.lines(argparse.Namespace(iters=5))
    assert lines[-2:] == [
        'error: c.py: RuntimeError: boom', 'beats random: 1 of 2'
    ]
    assert '| A | det | b | bbox AP | 0.2 | 0.2 | 1.0 | no |' in lines


@pytest.mark.slow
def test_tool_frozen_protocols(embedded_data, tmp_path, capsys):
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
        rows = list(csv.DictReader(f))
    assert [(r['method'], r['protocol']) for r in rows] == [('MAE', 'knn'),
                                                            ('MAE', 'linear')]
    for row in rows:
        assert 0.0 <= float(row['random']) <= 1.0
        assert 0.0 <= float(row['pretrained']) <= 1.0
        assert row['beats_random'] in ('yes', 'no')
    with open(out / 'pretraining.csv') as f:
        (run, ) = list(csv.DictReader(f))
    assert run['iters'] == '3' and float(run['first_loss']) > 0
    assert run['first_loss'] != run['last_loss']
    table = (out / 'learning_signal.md').read_text().splitlines()
    assert table[-1] == captured.out.splitlines()[-1]
    wins = sum(r['beats_random'] == 'yes' for r in rows)
    assert table[-1] == f'beats random: {wins} of 2'
    assert f'error: {broken}: KeyError' in table[-2]


@pytest.mark.slow
def test_tool_transfer_protocols(embedded_data, tmp_path, capsys, monkeypatch):
    """MixMIM pretrained for 2 iterations, then fine-tuned, Mask R-CNN and
    UPerNet for 2 iterations from each checkpoint; a broken fine-tuning
    config among them is named and the others still reported."""
    data = osp.dirname(embedded_data['imagenet'])
    out = tmp_path / 'signal'
    broken = tmp_path / 'broken_ft_embedded.py'
    broken.write_text(f"_base_ = '{MIXMIM_FT}'\n"
                      "model = dict(head=dict(type='NoSuchHead'))\n")
    found = learning_signal.transfer_configs

    def with_broken(config, protocol):
        extra = [str(broken)] if protocol == 'finetune' else []
        return extra + found(config, protocol)

    monkeypatch.setattr(learning_signal, 'transfer_configs', with_broken)
    code = learning_signal.main([
        MIXMIM_TINY, DROPPOS_TINY, '--protocol', 'finetune', 'det', 'seg',
        '--iters', '2', '--finetune-iters', '2', '--det-iters', '2',
        '--seg-iters', '2', '--data', data, '--out-dir',
        str(out), '--num-workers', '0'
    ])
    captured = capsys.readouterr()
    assert code == 1
    assert f'error: {broken}: KeyError' in captured.err
    with open(out / 'learning_signal.csv') as f:
        rows = list(csv.DictReader(f))
    measured = [(r['method'], r['protocol'], r['metric']) for r in rows]
    assert measured == [
        ('MixMIMPretrainer', 'finetune', 'top-1 (%)'),
        ('MixMIMPretrainer', 'det', 'bbox AP'),
        ('MixMIMPretrainer', 'det', 'segm AP'),
        ('MixMIMPretrainer', 'seg', 'mIoU (%)'),
        ('DropPos', 'finetune', 'top-1 (%)'),
    ]
    assert all(r['iters'] == '2' and float(r['seconds']) > 0 for r in rows)
    lines = captured.out.splitlines()
    wins = sum(r['beats_random'] == 'yes' for r in rows)
    assert lines[-1] == f'beats random: {wins} of 5'
    assert ('not measured: DropPos det (no embedded det config starts from '
            f'{DROPPOS_TINY})') in lines
    assert sum(line.startswith(f'error: {broken}') for line in lines) == 2


def test_cfg_options_change_every_pretraining_config():
    args = learning_signal.parse_args([
        MAE_TINY, DROPPOS_TINY, '--cfg-options',
        'optim_wrapper.optimizer.lr=0.0005'
    ])
    configs = learning_signal.load_configs(args.configs, args.cfg_options)
    assert [c.optim_wrapper.optimizer.lr for c in configs] == [5e-4, 5e-4]
    assert configs[1].optim_wrapper.optimizer.type == 'AdamW'  # merged


def test_tool_names_a_broken_config(tmp_path, capsys):
    broken = tmp_path / 'broken.py'
    broken.write_text('model = dict(\n')
    code = learning_signal.main([str(broken), '--out-dir', str(tmp_path)])
    assert code == 1
    assert f'{broken}: cannot load the config' in capsys.readouterr().err
    assert not (tmp_path / 'learning_signal.md').exists()
