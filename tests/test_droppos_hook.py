"""The sigma schedule of DropPos's position smoothing."""
from types import SimpleNamespace

import pytest
from mmengine.logging import MessageHub
from mmengine.registry import DefaultScope
from torch import nn

from mixmim_plugin.engine import DropPosSigmaHook
from mixmim_plugin.models import DropPosHead
from mixmim_plugin.registry import HOOKS


class _Model(nn.Module):

    def __init__(self) -> None:
        super().__init__()
        self.head = DropPosHead(grid=4, sigma=0.)


def _runner(epoch=0, max_epochs=10, it=0, max_iters=100, model=None):
    return SimpleNamespace(
        model=model or _Model(),
        epoch=epoch,
        max_epochs=max_epochs,
        iter=it,
        max_iters=max_iters,
        message_hub=MessageHub.get_instance('test_droppos_sigma'))


@pytest.mark.parametrize('epoch, expected', [(0, 1.0), (5, 0.5), (9, 0.1)])
def test_epoch_schedule_start_middle_last(epoch, expected):
    hook = DropPosSigmaHook(start=1.0)
    runner = _runner(epoch=epoch)
    hook.before_train_epoch(runner)
    hook.before_train_iter(runner, 0)
    assert runner.model.head.sigma == pytest.approx(expected)
    logged = runner.message_hub.get_scalar('train/sigma').current()
    assert logged == pytest.approx(expected)


def test_epoch_schedule_ignores_iterations_and_ends_at_zero():
    hook = DropPosSigmaHook(start=1.0)
    runner = _runner(epoch=2, it=90)
    hook.before_train_epoch(runner)
    hook.before_train_iter(runner, 0)
    assert runner.model.head.sigma == pytest.approx(0.8)
    hook.after_train(runner)
    assert runner.model.head.sigma == 0.0


@pytest.mark.parametrize('it, expected', [(0, 2.0), (50, 1.25), (100, 0.5)])
def test_iteration_schedule(it, expected):
    hook = DropPosSigmaHook(start=2.0, end=0.5, by_epoch=False)
    runner = _runner(it=it)
    hook.before_train_epoch(runner)  # no effect by iteration
    hook.before_train_iter(runner, 0)
    assert runner.model.head.sigma == pytest.approx(expected)


def test_sigma_at_is_linear():
    hook = DropPosSigmaHook(start=1.0)
    assert [hook.sigma_at(t) for t in (0, 0.25, 0.5, 1)] == [1, .75, .5, 0]
    with pytest.raises(ValueError, match='progress must be in .*got 1.5'):
        hook.sigma_at(1.5)


@pytest.mark.parametrize('kwargs, name', [(dict(start=-1.0), 'start'),
                                          (dict(end=-0.5), 'end'),
                                          (dict(start=float('nan')), 'start')])
def test_negative_sigma_is_rejected(kwargs, name):
    with pytest.raises(ValueError, match=f'{name} sigma must be .*got'):
        DropPosSigmaHook(**kwargs)


def test_model_without_sigma_head_is_an_error():
    runner = _runner(model=nn.Linear(2, 2))
    with pytest.raises(TypeError, match='Linear has no head with a sigma'):
        DropPosSigmaHook().before_train(runner)


def test_registered_in_the_plugin_scope():
    with DefaultScope.overwrite_default_scope('mixmim_plugin'):
        hook = HOOKS.build(dict(type='DropPosSigmaHook', start=0.5))
    assert isinstance(hook, DropPosSigmaHook) and hook.start == 0.5
