"""Shared pytest fixtures."""
from typing import Dict

import pytest


@pytest.fixture(scope='session')
def embedded_data(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, str]:
    """The embedded datasets (seed 0), generated once per test session.

    Returns ``{'imagenet': ..., 'coco': ..., 'ade': ...}``, the dataset roots
    of :func:`mixmim_tools.data.embedded.make_embedded_data`.
    """
    from mixmim_tools.data.embedded import make_embedded_data
    return make_embedded_data(str(tmp_path_factory.mktemp('embedded')))


@pytest.fixture(scope='session')
def matrix_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Work dirs of the config run matrix (tests/config_matrix.py), shared
    by every test of the session that reuses its runs."""
    return str(tmp_path_factory.mktemp('matrix'))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items) -> None:
    """Record which configs the selected run-matrix tests cover, so that
    the matrix queues them all at once (after -k / -m deselection)."""
    from config_matrix import MATRIX_SELECTED
    config.stash[MATRIX_SELECTED] = [
        item.callspec.params['config'] for item in items
        if item.originalname == 'test_config_runs'
    ]
