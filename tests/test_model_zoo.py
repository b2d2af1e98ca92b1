"""The model zoo: model-index.yml, configs/<method>/metafile.yml and the
READMEs agree with the configs."""
import glob
import os.path as osp
import re
from functools import lru_cache

import pytest
import yaml
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
METHODS = ('mixmim', 'droppos', 'mae', 'moby')
SOURCES = ('reported', 'measured')


def metafile(method: str) -> dict:
    with open(osp.join(ROOT, 'configs', method, 'metafile.yml')) as f:
        return yaml.safe_load(f)


def all_models():
    return [(method, model) for method in METHODS
            for model in metafile(method)['Models']]


@lru_cache(maxsize=None)
def load_config(path: str) -> Config:
    return Config.fromfile(osp.join(ROOT, path))


def test_model_index_imports_every_metafile():
    with open(osp.join(ROOT, 'model-index.yml')) as f:
        imports = yaml.safe_load(f)['Import']
    assert sorted(imports) == sorted(f'configs/{m}/metafile.yml'
                                     for m in METHODS)
    from modelindex.load_model_index import load
    index = load(osp.join(ROOT, 'model-index.yml'))
    assert len(index.models) == len(all_models())
    assert sorted(c.name for c in index.collections) == [
        'DropPos', 'MAE', 'MixMIM', 'MoBY'
    ]


@pytest.mark.parametrize('method', METHODS)
def test_every_config_is_in_the_metafile_and_back(method):
    meta = metafile(method)
    listed = {model['Config'] for model in meta['Models']}
    on_disk = {
        osp.relpath(path, ROOT)
        for path in glob.glob(
            osp.join(ROOT, 'configs', method, '**', '*.py'), recursive=True)
    }
    assert on_disk - listed == set(), 'configs missing from the metafile'
    assert listed - on_disk == set(), 'metafile configs that do not exist'


@pytest.mark.parametrize('method', METHODS)
def test_metafile_entries_are_well_formed(method):
    meta = metafile(method)
    collections = {c['Name'] for c in meta['Collections']}
    for collection in meta['Collections']:
        assert osp.isfile(osp.join(ROOT, collection['README']))
        assert collection['Paper']['URL'].startswith('https://arxiv.org/')
    names = [model['Name'] for model in meta['Models']]
    assert len(names) == len(set(names))
    for model in meta['Models']:
        assert model['In Collection'] in collections, model['Name']
        assert {'Epochs', 'Iterations'} & set(model['Metadata'])
        for name in model.get('Downstream', []):
            assert name in names, f'{model["Name"]}: unknown {name}'
        for result in model['Results'] or []:
            assert {'Task', 'Dataset', 'Metrics', 'Source'} <= set(result)
            assert result['Source'].startswith(SOURCES), model['Name']
            assert result['Metrics'] and all(
                isinstance(v, (int, float))
                for v in result['Metrics'].values())


@pytest.mark.parametrize('method', METHODS)
def test_metadata_matches_the_configs(method):
    """Epochs / iterations and the total batch size are those of the
    config (per-GPU batch x the GPUs in its name)."""
    for model in metafile(method)['Models']:
        cfg = load_config(model['Config'])
        meta, name = model['Metadata'], model['Name']
        train_cfg = cfg.get('train_cfg') or {}
        if 'Epochs' in meta:
            assert train_cfg.get('max_epochs') == meta['Epochs'], name
        else:
            assert train_cfg.get('max_iters') == meta['Iterations'], name
        gpus, per_gpu = map(
            int,
            re.search(r'_(\d+)xb(\d+)',
                      osp.basename(model['Config'])).groups())
        assert cfg.train_dataloader.batch_size == per_gpu, name
        assert meta['Batch Size'] == gpus * per_gpu, name


@pytest.mark.parametrize('method', METHODS)
def test_readme_lists_every_config_and_reported_figure(method):
    with open(osp.join(ROOT, 'configs', method, 'README.md')) as f:
        readme = f.read()
    for model in metafile(method)['Models']:
        config = model['Config'][len(f'configs/{method}/'):]
        assert f'`{config}`' in readme, config
        for result in model['Results'] or []:
            for value in result['Metrics'].values():
                assert re.search(
                    rf'(?<![\d.]){re.escape(str(value))}'
                    rf'(?![\d])', readme), (model['Name'], value)
    for link in re.findall(r'\]\(([^)#]+\.(?:md|yml))\)', readme):
        assert osp.isfile(osp.join(ROOT, 'configs', method, link)), link
