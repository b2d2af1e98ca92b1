"""The interleaved benchmark of pretraining, detection and segmentation
configs (``tools/analysis_tools/benchmark_models.py``) on tiny configs, the
plugin's beside the toolboxes' own."""
import csv
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mixmim_tools.benchmark.contenders import (BenchmarkError, build_contender,
                                               plain_optim_wrapper, try_steps)
from mixmim_tools.benchmark.input_size import set_input_size
from mixmim_tools.benchmark.measure import measure_interleaved
from mixmim_tools.benchmark.results import result_rows
from mixmim_tools.cli import benchmark_models
from mixmim_tools.configs import strip_pretrained
from mixmim_tools.tables import markdown_table, write_lines

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
MIXMIM_TINY = osp.join(REPO,
                       'configs/mixmim/mixmim-tiny_1xb32_20e_embedded.py')
MAE_TINY = osp.join(REPO, 'configs/mae/mae-tiny_1xb32_20e_embedded.py')
MAE_MMPRETRAIN = ('mmpretrain::mae/'
                  'mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py')


def test_strip_pretrained_removes_only_checkpoints():
    model = dict(
        backbone=dict(
            init_cfg=dict(type='Pretrained', checkpoint='a.pth'),
            layers=[
                dict(pretrained='b.pth'),
                dict(init_cfg=dict(type='TruncNormal'))
            ]),
        head=dict(init_cfg=[
            dict(type='Constant', val=0),
            dict(type='Pretrained', checkpoint='c.pth')
        ]))
    removed = strip_pretrained(model)
    assert removed == [
        'model.backbone.init_cfg', 'model.backbone.layers[0].pretrained',
        'model.head.init_cfg'
    ]
    assert model['backbone']['init_cfg'] is None
    assert model['backbone']['layers'][1]['init_cfg']['type'] == 'TruncNormal'
    assert model['head']['init_cfg'] == [dict(type='Constant', val=0)]


def test_plain_optim_wrapper_keeps_optimizer_and_clipping():
    cfg = dict(
        type='AmpOptimWrapper',
        loss_scale='dynamic',
        optimizer=dict(type='AdamW', lr=1e-3),
        clip_grad=dict(max_norm=3.0))
    plain, note = plain_optim_wrapper(cfg)
    assert plain == dict(
        type='OptimWrapper',
        optimizer=dict(type='AdamW', lr=1e-3),
        clip_grad=dict(max_norm=3.0))
    assert 'AmpOptimWrapper' in note
    same, none = plain_optim_wrapper(dict(type='OptimWrapper', optimizer={}))
    assert same['type'] == 'OptimWrapper' and none is None


def test_set_input_size_changes_model_and_pipeline():
    cfg = Config.fromfile(MAE_TINY)
    assert set_input_size(cfg, 64) == 128
    pipeline = cfg.train_dataloader.dataset.pipeline
    assert [t.get('scale') for t in pipeline if 'scale' in t] == [64]
    assert cfg.model.backbone.img_size == 64
    assert cfg.model.neck.num_patches == 16  # 8x8 patches of 16 -> 4x4
    with pytest.raises(ValueError, match='no crop size'):
        set_input_size(
            Config(
                dict(
                    train_dataloader=dict(
                        dataset=dict(pipeline=[dict(
                            type='LoadImageFromFile')])))), 64)


def test_measure_interleaved_is_round_robin():
    calls = []

    class Fake:

        def __init__(self, name):
            self.name = name
            self.times = {}

        def loss(self):
            return self.name

        optim_wrapper = None

    def step(loss_fn, optim, device, precision):
        calls.append((loss_fn(), precision))
        return dict(fwd_bwd=1.0, optim=0.5)

    a, b = Fake('a'), Fake('b')
    measure_interleaved([a, b], ['fp32', 'bf16'], 2, 1, 'cpu', step=step)
    assert calls == [('a', 'fp32'), ('b', 'fp32'), ('a', 'bf16'),
                     ('b', 'bf16')] * 3
    assert len(a.times['fp32']) == len(b.times['bf16']) == 2


def test_contender_steps_the_config_model():
    c = build_contender(MIXMIM_TINY, 'cpu', batch_size=2, name='mixmim')
    assert c.input_desc == '128x128' and c.batch_size == 2
    before = [p.detach().clone() for p in c.model.parameters()]
    try_steps(c, ['fp32', 'bf16'], 'cpu')
    after = list(c.model.parameters())
    assert any(not torch.equal(x, y) for x, y in zip(before, after))


def test_mmpretrain_config_builds_with_random_weights():
    c = build_contender(MAE_MMPRETRAIN, 'cpu', batch_size=1, img_size=64)
    assert c.input_desc == '64x64'
    assert 'AmpOptimWrapper -> OptimWrapper' in ' '.join(c.notes)
    assert type(c.model).__module__.startswith('mmpretrain')
    try_steps(c, ['fp32'], 'cpu')


def test_bad_configs_name_the_stage(tmp_path):
    with pytest.raises(
            BenchmarkError, match='cannot load the config: '
            'FileNotFoundError'):
        build_contender(str(tmp_path / 'missing.py'), 'cpu', 1)
    with pytest.raises(BenchmarkError, match='nopackage.*not installed'):
        build_contender('nopackage::x.py', 'cpu', 1)
    broken = tmp_path / 'broken.py'
    broken.write_text(
        f"_base_ = '{MIXMIM_TINY}'\nmodel = dict(type='NoSuchModel')\n")
    with pytest.raises(BenchmarkError, match='cannot build the model'):
        build_contender(str(broken), 'cpu', 1)
    # the 32-pixel mix units do not tile 50-pixel inputs
    with pytest.raises(
            BenchmarkError,
            match='cannot form an input batch: .*50x50 is not a multiple '
            'of mask_patch_size 32'):
        build_contender(MIXMIM_TINY, 'cpu', 1, img_size=50)
    # 96 pixels: 3x3 units, but the encoder's 8-token windows do not tile
    # its 12x12 second stage, which the encoder checks on the mixed batch
    contender = build_contender(MIXMIM_TINY, 'cpu', 2, img_size=96)
    with pytest.raises(
            BenchmarkError,
            match='cannot run a fp32 training step: '
            '.*12x12 token map, which window 8 does not tile'):
        try_steps(contender, ['fp32'], 'cpu')


def test_tool_writes_table_csv_and_chart(tmp_path, capsys):
    out = tmp_path / 'bench'
    code = benchmark_models.main([
        MIXMIM_TINY, MAE_TINY,
        str(tmp_path / 'missing.py'), '--names', 'mixmim', 'mae', 'missing',
        '--batch', '2', '--iters', '2', '--warmup', '0', '--precisions',
        'fp32', '--out-dir',
        str(out)
    ])
    captured = capsys.readouterr()
    # the missing config is reported and skipped; the others are measured
    assert code == 1
    assert 'missing.py: cannot load the config' in captured.err
    with open(out / 'benchmark.csv') as f:
        rows = list(csv.DictReader(f))
    assert [r['model'] for r in rows] == ['mixmim', 'mae']
    for row in rows:
        assert float(row['images_per_s']) > 0
        assert float(row['fwd_gflops']) > 0
        assert float(row['params_m']) > 0
    assert float(rows[0]['speed_vs_first']) == 1.0
    table = (out / 'benchmark.md').read_text()
    assert '| mixmim | pretrain | fp32 | 128x128 |' in table
    assert (out / 'benchmark.png').read_bytes()[:4] == b'\x89PNG'
    assert not list(out.glob('*.partial'))


def test_tool_rejects_bad_arguments(capsys):
    tool = benchmark_models
    with pytest.raises(SystemExit):
        tool.main([MIXMIM_TINY, '--names', 'a', 'b'])
    with pytest.raises(SystemExit):
        tool.main([MIXMIM_TINY, MIXMIM_TINY])
    assert 'must be unique' in capsys.readouterr().err


def test_result_rows_and_markdown():

    class Fake:
        name, config, batch_size, input_desc = 'm', 'm.py', 4, '8x8'
        task, flops_of = 'detection', 'tensor'
        infer_times = {'fp32': [dict(infer=0.5), dict(infer=1.5)]}
        model = torch.nn.Linear(2, 2)
        optim_wrapper = type('W', (), {})()
        optim_wrapper.optimizer = torch.optim.SGD(model.parameters(), 0.1)
        fwd_flops, flops_by, step_flops = 2e9, 'mmengine', 6e9
        memory = {'fp32': 3 * 2**20}
        times = {
            'fp32':
            [dict(fwd_bwd=1.0, optim=1.0),
             dict(fwd_bwd=3.0, optim=1.0)]
        }

    rows = result_rows([Fake()], ['fp32'])
    assert rows[0]['step_s'] == 3.0  # median of 2 and 4
    assert rows[0]['images_per_s'] == round(4 / 3, 2)
    assert rows[0]['peak_mib'] == 3 and rows[0]['fwd_gflops'] == 2.0
    assert rows[0]['infer_s'] == 1.0 and rows[0]['infer_images_per_s'] == 4
    # a precision that did not run for a model gives no row
    assert result_rows([Fake()], ['bf16']) == []
    lines = markdown_table(rows, [('model', 'model'), ('tflops', 'TFLOP/s')])
    assert lines == ['| model | TFLOP/s |', '|---|---|', '| m | 0.002 |']


def test_interrupted_write_leaves_nothing(tmp_path):

    path = tmp_path / 'table.md'
    with pytest.raises(TypeError):  # fails after the file was opened
        write_lines(['ok', None], str(path))
    assert not path.exists() and not list(tmp_path.iterdir())
