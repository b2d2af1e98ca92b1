"""openmim packaging (setup.py): ``mixmim_plugin/.mim`` holds the configs,
tools and model-index.yml that ``mim train / test / search mixmim_plugin``
use; links into this checkout in the editable install, real files in a
wheel."""
import os
import re
import shutil
import stat
import sys
import zipfile
from pathlib import Path
from typing import List, Optional

import pytest
import yaml
from config_matrix import load
from config_matrix import run as run_command
from config_matrix import size_options

import mixmim_plugin

ROOT = Path(__file__).resolve().parents[1]
PKG_DIR = ROOT / 'mixmim_plugin'
MIM = str(Path(sys.executable).parent / 'mim')
MIM_ITEMS = ('configs', 'tools', 'model-index.yml')
# the README's main pretraining config and its fine-tuning benchmark
PRETRAIN_CFG = 'mixmim-b_8xb128_600e.py'
FINETUNE_CFG = 'mixmim-b_8xb128-ft-100e_in1k.py'
# how openmim finds a package (mim train / test / search all use it)
MIM_PKG_ROOT = ('from mim.utils import get_installed_path; '
                'print(get_installed_path("mixmim_plugin"))')
# top-level paths of a checkout that are no part of a build
NOT_SOURCES = {
    '.git', '.venv', 'build', 'dist', 'work_dirs', 'data', '.pytest_cache',
    '.whl'
}


def run(cmd: List[str], cwd: Path, env: Optional[dict] = None) -> str:
    """Run ``cmd``; its stdout and stderr, or a failure that shows them."""
    code, out = run_command(cmd, env, str(cwd))
    assert code == 0, f'{" ".join(cmd)} exited with {code}:\n{out[-6000:]}'
    return out


def mim_pkg_root(cwd: Path, env: Optional[dict] = None) -> Path:
    """The package directory openmim resolves for mixmim_plugin."""
    out = run([sys.executable, '-W', 'ignore', '-c', MIM_PKG_ROOT], cwd, env)
    return Path(out.strip().splitlines()[-1])


def model_names() -> List[str]:
    """The model names of model-index.yml (through its Import list)."""
    index = yaml.safe_load((ROOT / 'model-index.yml').read_text())
    names = []
    for metafile in index['Import']:
        models = yaml.safe_load((ROOT / metafile).read_text())['Models']
        names += [model['Name'] for model in models]
    assert names, 'model-index.yml lists no models'
    return names


def searched_models(mim_search_output: str) -> List[str]:
    return re.findall(r'^config id: (\S+)$', mim_search_output, re.M)


@pytest.fixture
def editable_install() -> Path:
    """The ``.mim`` folder of the editable install of this checkout."""
    if Path(mixmim_plugin.__file__).resolve().parent != PKG_DIR:
        pytest.skip(f'mixmim_plugin is imported from {mixmim_plugin.__file__}'
                    f', not installed in editable mode from {ROOT}')
    return PKG_DIR / '.mim'


def test_editable_mim_links_to_checkout(editable_install, tmp_path):
    for item in MIM_ITEMS:
        link = editable_install / item
        assert link.is_symlink(), (
            f'{link} is not a symlink: reinstall with pip install -e .')
        assert link.resolve() == ROOT / item
    # openmim looks in <its package root>/.mim: the one above
    assert mim_pkg_root(tmp_path) == PKG_DIR


def test_mim_search_lists_model_index(tmp_path):
    out = run([MIM, 'search', 'mixmim_plugin'], tmp_path)
    assert sorted(searched_models(out)) == sorted(model_names())


@pytest.mark.slow
def test_mim_train_and_test(editable_install, embedded_data, tmp_path):
    # from a folder without configs/: mim finds config and script in .mim
    imagenet = embedded_data['imagenet']
    work_dir = tmp_path / 'pretrain'
    sizes = size_options(load(f'configs/mixmim/{PRETRAIN_CFG}'))
    out = run([
        MIM, 'train', 'mixmim_plugin', PRETRAIN_CFG, '--work-dir',
        str(work_dir), '--cfg-options',
        f'train_dataloader.dataset.data_root={imagenet}'
    ] + sizes, tmp_path)
    assert f'{editable_install}/tools/train.py {ROOT}/configs/mixmim/' \
        f'{PRETRAIN_CFG}' in out
    assert 'Epoch(train) [1][1/1]' in out
    checkpoint = work_dir / 'epoch_1.pth'
    assert checkpoint.is_file()

    # evaluate the pretrained encoder (the classifier head stays random)
    out = run([
        MIM, 'test', 'mixmim_plugin', FINETUNE_CFG, '--checkpoint',
        str(checkpoint), '--work-dir',
        str(tmp_path / 'test'), '--cfg-options',
        f'test_dataloader.dataset.data_root={imagenet}',
        'test_dataloader.dataset.indices=4', 'test_dataloader.batch_size=2'
    ], tmp_path)
    assert f'{editable_install}/tools/test.py {ROOT}/configs/mixmim/' \
        f'benchmarks/{FINETUNE_CFG} {checkpoint}' in out
    assert f'Load checkpoint from {checkpoint}' in out
    assert re.search(r'Epoch\(test\) \[2/2\] .*accuracy/top1: \d', out), out


def ignore_non_sources(folder: str, names: List[str]) -> List[str]:
    """shutil.copytree's ``ignore``: what a build must not see."""
    skip = {'__pycache__', '.mim'}
    if Path(folder) == ROOT:
        skip |= NOT_SOURCES
    return [n for n in names if n in skip or n.endswith('.egg-info')]


def source_files(root: Path) -> List[str]:
    """What the .mim of a build must hold: the files of MIM_ITEMS."""
    files = ['model-index.yml']
    for folder in ('configs', 'tools'):
        files += [
            p.relative_to(root).as_posix()
            for p in sorted((root / folder).rglob('*'))
            if p.is_file() and '__pycache__' not in p.parts
        ]
    return files


@pytest.mark.slow
def test_wheel_ships_mim_files(tmp_path):
    # build from a copy: the checkout keeps no build/ and its links stay out
    src = tmp_path / 'src'
    shutil.copytree(ROOT, src, ignore=ignore_non_sources)
    pip = [sys.executable, '-m', 'pip']
    run(
        pip + [
            'wheel', '--no-deps', '--no-build-isolation', '--no-index', '-w',
            str(tmp_path / 'dist'),
            str(src)
        ], tmp_path)
    [wheel] = (tmp_path / 'dist').glob('mixmim_plugin-*.whl')

    sources = source_files(src)
    assert f'configs/mixmim/{PRETRAIN_CFG}' in sources
    assert 'tools/train.py' in sources and 'model-index.yml' in sources
    with zipfile.ZipFile(wheel) as zf:
        members = {info.filename: info for info in zf.infolist()}
        for source in sources:
            name = f'mixmim_plugin/.mim/{source}'
            assert name in members, f'{wheel.name} has no {name}'
            assert stat.S_ISREG(members[name].external_attr >> 16), (
                f'{name} is not a regular file in {wheel.name}')
            assert zf.read(name) == (src / source).read_bytes()

    # installed elsewhere and first on the path, the wheel is what mim uses
    site = tmp_path / 'site'
    run(
        pip + [
            'install', '--no-deps', '--no-index', '--no-compile', '--target',
            str(site),
            str(wheel)
        ], tmp_path)
    mim_dir = site / 'mixmim_plugin' / '.mim'
    assert not [p for p in mim_dir.rglob('*') if p.is_symlink()]
    path = [str(site)] + [p for p in [os.environ.get('PYTHONPATH')] if p]
    env = dict(PYTHONPATH=os.pathsep.join(path))
    assert mim_pkg_root(tmp_path, env) == site / 'mixmim_plugin'
    out = run([MIM, 'search', 'mixmim_plugin'], tmp_path, env)
    assert sorted(searched_models(out)) == sorted(model_names())
