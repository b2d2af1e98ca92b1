"""Every config file under configs/ trains one iteration and runs its
validation and test loops, through the command a user runs (see
config_matrix.py for the commands and the only overrides allowed).

A transfer config starts from the checkpoint of the matrix's own run of the
pretraining config it names, converted by the converter its comment tells
users to run where it needs one, so pretrained weights reach every
downstream model the way a user's do.
"""
import math
import os.path as osp
import re

import pytest
from config_matrix import (MATRIX_SELECTED, Matrix, all_configs, has_loop,
                           load, pretraining_of, task, toolbox)

from mixmim_plugin.engine.optimizers.device_amp_optim_wrapper import \
    cpu_precision

CONFIGS = all_configs()
LOSS = re.compile(r'\bloss: (\S+)')
OUTPUT_TAIL = 6000


def _losses(output: str):
    return [float(value) for value in LOSS.findall(output)]


@pytest.fixture(scope='session')
def matrix(request, embedded_data, matrix_dir) -> Matrix:
    """The session's matrix, with every selected config already queued."""
    runs = Matrix(embedded_data, matrix_dir)
    runs.submit_all(request.config.stash.get(MATRIX_SELECTED, []))
    return runs


@pytest.mark.slow
@pytest.mark.parametrize('config', CONFIGS)
def test_config_runs(config, matrix):
    cfg = load(config)
    done = matrix.result(config)
    assert done.code == 0, done.output[-OUTPUT_TAIL:]
    losses = _losses(done.output)
    assert losses, f'no loss line on the console:\n{done.output[-3000:]}'
    assert all(math.isfinite(v) for v in losses), losses
    assert done.checkpoint_bytes > 0, done.checkpoint
    if toolbox(cfg) == 'mixmim_plugin':  # these go to the log file only
        assert 'Config:' not in done.output
        assert 'paramwise_options' not in done.output
    if cfg.optim_wrapper.get('type', '').endswith('DeviceAmpOptimWrapper'):
        assert f"precision: {cpu_precision('auto')[1]}" in done.output
    if has_loop(cfg, 'val'):
        assert '(val)' in done.output, done.output[-OUTPUT_TAIL:]
    if has_loop(cfg, 'test'):
        assert done.test_code == 0, done.test_output[-OUTPUT_TAIL:]
        assert '(test)' in done.test_output, done.test_output[-OUTPUT_TAIL:]
    else:
        assert task(cfg) == 'pretrain', f'{config} has no test loop'


def test_matrix_covers_every_config():
    """The matrix finds configs by globbing: each method folder and each
    benchmarks folder contributes, and nothing under _base_ runs."""
    folders = {osp.dirname(c) for c in CONFIGS}
    for method in ('mixmim', 'droppos', 'mae', 'moby'):
        assert f'configs/{method}' in folders
        assert f'configs/{method}/benchmarks' in folders
    assert not any('_base_' in c for c in CONFIGS)
    assert len(CONFIGS) == len([c for c in CONFIGS if c.endswith('.py')]) >= 60


@pytest.mark.parametrize('config', [c for c in CONFIGS if '/benchmarks/' in c])
def test_transfer_configs_name_their_pretraining(config):
    """Every transfer config with a ``Pretrained`` backbone names the
    pretraining config whose checkpoint it expects, as
    ``work_dirs/<config>/<file>.pth``, so the matrix (and a user) can tell
    which run feeds it."""
    cfg = load(config)
    init = cfg.model.backbone.get('init_cfg', None) or {}
    if init.get('type') == 'Pretrained':
        upstream, _ = pretraining_of(cfg)
        assert task(load(upstream)) == 'pretrain'


def _scoped_collate_fns(node, path=''):
    """Paths of collate_fn dicts that carry mmengine's ``_scope_`` mark."""
    if isinstance(node, dict):
        for key, value in node.items():
            where = f'{path}.{key}' if path else key
            if key == 'collate_fn' and isinstance(value, dict) \
                    and '_scope_' in value:
                yield where
            else:
                yield from _scoped_collate_fns(value, where)
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _scoped_collate_fns(value, f'{path}.{i}')


def test_no_config_passes_a_scope_to_its_collate_function():
    """A ``collate_fn`` dict inherited from another package's base gets
    ``_scope_``, which mmengine's Runner passes to the function as a
    keyword (TypeError at the first validation or test)."""
    bad = {
        config: list(_scoped_collate_fns(load(config)._cfg_dict.to_dict()))
        for config in CONFIGS
    }
    assert not {k: v for k, v in bad.items() if v}


def test_no_config_needs_a_gpu_for_its_precision():
    """mmengine's AmpOptimWrapper asserts an accelerator: configs that
    inherit it (mmpretrain's, mmseg's AMP recipes) name the plugin's
    DeviceAmpOptimWrapper instead, so the same file runs on a CPU."""
    gpu_only = [
        config for config in CONFIGS if load(config).optim_wrapper.get(
            'type', '').split('.')[-1] == 'AmpOptimWrapper'
    ]
    assert not gpu_only


def test_every_config_trains_with_the_fault_tolerant_runner():
    """tools/train.py and mmdet's / mmseg's train.py (mim train) build the
    config's ``runner_type``: every config names the plugin's runner, with
    the options of configs/_base_/fault_tolerance.py."""
    others = [
        config for config in CONFIGS if
        load(config).get('runner_type') != 'mixmim_plugin.FaultTolerantRunner'
        or 'fault_tolerance' not in load(config)
    ]
    assert not others
