"""Checks that the installed OpenMMLab stack is one the plugin supports."""
from importlib import metadata
from typing import Dict, Tuple

from mmengine.utils import digit_version

# package -> (lowest supported, first unsupported). The exact versions that are
# verified together are pinned in requirements/*.txt.
SUPPORTED: Dict[str, Tuple[str, str]] = {
    'torch': ('2.1.0', '3.0.0'),
    'mmcv': ('2.0.0', '2.2.0'),  # mmdet 3.3 / mmseg 1.2 refuse mmcv >= 2.2
    'mmengine': ('0.10.0', '1.0.0'),
    'mmpretrain': ('1.2.0', '1.3.0'),
}


class UnsupportedStackError(RuntimeError):
    """Raised when an installed package is outside the supported range."""


def installed_version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError as err:
        raise UnsupportedStackError(
            f'{package} is not installed; mixmim_plugin needs '
            f'{package}>={SUPPORTED[package][0]},<{SUPPORTED[package][1]}. '
            'Run `bash tools/setup_env.sh` to build the pinned environment.'
        ) from err


def check_stack_versions(supported: Dict[str, Tuple[str, str]] = SUPPORTED,
                         versions: Dict[str, str] = None) -> Dict[str, str]:
    """Raise :class:`UnsupportedStackError` naming every package whose
    version is outside ``supported``; return the versions found."""
    found = {}
    problems = []
    for package, (low, high) in supported.items():
        version = (versions or {}).get(package) or installed_version(package)
        found[package] = version
        base = version.split('+')[0]
        if not digit_version(low) <= digit_version(base) < digit_version(high):
            problems.append(
                f'{package}=={version} (supported: >={low},<{high})')
    if problems:
        raise UnsupportedStackError(
            'mixmim_plugin does not support the installed ' +
            '; '.join(problems) +
            '. Run `bash tools/setup_env.sh` to build the pinned environment '
            '(see requirements/).')
    return found
