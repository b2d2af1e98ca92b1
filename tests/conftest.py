"""Shared pytest fixtures."""
from typing import Dict

import pytest


@pytest.fixture(scope='session')
def embedded_data(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, str]:
    """The embedded datasets (seed 0), generated once per test session.

    Returns ``{'imagenet': ..., 'coco': ..., 'ade': ...}``, the dataset roots
    of :func:`mixmim_plugin.datasets.embedded.make_embedded_data`.
    """
    from mixmim_plugin.datasets.embedded import make_embedded_data
    return make_embedded_data(str(tmp_path_factory.mktemp('embedded')))
