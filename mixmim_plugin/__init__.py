"""mixmim_plugin: MixMIM, DropPos, MoBY and MAE for OpenMMLab 2.x.

Importing the package checks the installed OpenMMLab stack, registers every
module in the ``mixmim_plugin`` registry scope and makes mmengine checkpoints
resumable under torch's safe loading.
"""
from .utils.env import check_stack_versions

check_stack_versions()

from . import registry  # noqa: E402
from .utils.safe_load import allow_mmengine_checkpoints  # noqa: E402

allow_mmengine_checkpoints()

from . import datasets, engine, models  # noqa: E402,F401
from .version import __version__  # noqa: E402

__all__ = ['__version__', 'registry']
