"""The plugin's registry scope: sees mmpretrain, is reachable from mmdet and
mmseg, registers everything on import, clashes with nothing."""
import subprocess
import sys
import textwrap

import pytest
from mmengine.registry import DefaultScope
from mmpretrain import registry as mmpretrain_registry

import mixmim_plugin
from mixmim_plugin import registry as plugin_registry

REGISTRY_NAMES = [name for name in plugin_registry.__all__ if name != 'SCOPE']


def _pairs():
    for name in REGISTRY_NAMES:
        yield name, getattr(plugin_registry,
                            name), getattr(mmpretrain_registry, name)


def test_registries_are_children_of_mmpretrain():
    for name, ours, theirs in _pairs():
        assert ours.parent is theirs, name
        assert ours.scope == 'mixmim_plugin'
        assert theirs._children['mixmim_plugin'] is ours


def test_default_scope_sees_plugin_and_mmpretrain_modules():
    models = plugin_registry.MODELS
    transforms = plugin_registry.TRANSFORMS
    with DefaultScope.overwrite_default_scope('mixmim_plugin'):
        encoder = models.build(dict(type='MixMIMEncoder', arch='tiny'))
        resnet = models.build(dict(type='ResNet', depth=18))  # mmpretrain
        crop = transforms.build(dict(type='RandomResizedCrop', scale=32))
        mix = transforms.build(dict(type='MixMaskGenerator'))
    assert type(encoder).__name__ == 'MixMIMEncoder'
    assert type(resnet).__module__.startswith('mmpretrain.')
    assert type(crop).__module__.startswith('mmpretrain.')
    assert type(mix).__module__.startswith('mixmim_plugin.')


def test_no_name_clashes_with_mmpretrain_or_mmengine():
    for name, ours, theirs in _pairs():
        clashes = set(ours.module_dict) & (
            set(theirs.module_dict) | set(theirs.parent.module_dict))
        assert not clashes, f'{name}: {sorted(clashes)}'


def test_import_registers_every_exported_module():
    """Every public class of the model/dataset/engine packages is in the
    registry of its kind."""
    kinds = [
        (mixmim_plugin.models, plugin_registry.MODELS),
        (mixmim_plugin.datasets, plugin_registry.TRANSFORMS),
    ]
    for package, registry in kinds:
        for name in package.__all__ if hasattr(package,
                                               '__all__') else dir(package):
            obj = getattr(package, name)
            if isinstance(obj, type):
                assert registry.get(name) is obj, f'{name} not registered'


def test_unknown_module_error_names_it():
    with DefaultScope.overwrite_default_scope('mixmim_plugin'):
        with pytest.raises(KeyError, match='NoSuchEncoder'):
            plugin_registry.MODELS.build(dict(type='NoSuchEncoder'))


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg'])
def test_reachable_from_downstream_scopes(scope, tmp_path):
    """A fresh interpreter loads an mmdet/mmseg-scoped config whose
    custom_imports names the plugin, and builds a plugin backbone by its
    scoped name through the downstream registry."""
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(
        textwrap.dedent(f"""
        default_scope = '{scope}'
        custom_imports = dict(imports=['mixmim_plugin'],
                              allow_failed_imports=False)
        backbone = dict(type='mixmim_plugin.MixMIMEncoder', arch='tiny',
                        out_type='featmap', out_indices=(0, 1, 2, 3))
        """))
    code = textwrap.dedent(f"""
        import sys, torch
        from mmengine.config import Config
        from mmengine.registry import DefaultScope
        assert 'mixmim_plugin' not in sys.modules
        cfg = Config.fromfile({str(cfg)!r})
        assert 'mixmim_plugin' in sys.modules
        from {scope}.registry import MODELS
        with DefaultScope.overwrite_default_scope('{scope}'):
            net = MODELS.build(cfg.backbone)
        outs = net(torch.rand(1, 3, 64, 64))
        print(type(net).__module__, [tuple(o.shape) for o in outs])
        """)
    result = subprocess.run([sys.executable, '-c', code],
                            capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith('mixmim_plugin.'), result.stdout
    assert '(1, 512, 2, 2)' in result.stdout


def test_default_scope_sees_mmpretrain_datasets_and_hooks():
    with DefaultScope.overwrite_default_scope('mixmim_plugin'):
        assert plugin_registry.DATASETS.get('ImageNet').__module__.startswith(
            'mmpretrain.')
        assert plugin_registry.HOOKS.get('EMAHook') is not None
        assert plugin_registry.METRICS.get('Accuracy').__module__.startswith(
            'mmpretrain.')
