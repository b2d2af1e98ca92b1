from .config_checks import check_dataset_paths
from .dist import setup_cpu_distributed
from .env import UnsupportedStackError, check_stack_versions
from .safe_load import allow_mmengine_checkpoints

__all__ = [
    'UnsupportedStackError', 'allow_mmengine_checkpoints',
    'check_dataset_paths', 'check_stack_versions', 'setup_cpu_distributed'
]
