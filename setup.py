"""Install script; the package metadata lives in setup.cfg.

Two packages are installed: ``mixmim_plugin`` (the runtime: what configs
import) and ``mixmim_tools`` (the code of the scripts in ``tools/``), whose
source is ``tools/mixmim_tools``.

Besides the packages, this installs openmim's ``.mim`` extension: the
``configs/``, ``tools/`` and ``model-index.yml`` that ``mim train``, ``mim
test`` and ``mim search mixmim_plugin`` look for in ``mixmim_plugin/.mim/``.

* An editable install (``pip install -e .``) links them: each
  ``mixmim_plugin/.mim/<item>`` is a relative symlink to the top-level
  ``<item>``, so edits to configs and tools are live; so is
  ``<site-packages>/mixmim_tools``, a symlink to ``tools/mixmim_tools``.
* A build (``pip wheel .``, ``pip install .``, ``python -m build``) copies
  them: the wheel and the sdist hold real files.
"""
import os
import os.path as osp
import re
import shutil
import site
import sysconfig
from setuptools import find_packages, setup
from setuptools.command.build_py import build_py
from setuptools.command.develop import develop
from setuptools.command.sdist import sdist
from typing import Optional

ROOT = osp.dirname(osp.abspath(__file__))
PACKAGE = 'mixmim_plugin'
TOOLS_PACKAGE = 'mixmim_tools'
TOOLS_DIR = 'tools/mixmim_tools'
MIM_ITEMS = ('configs', 'tools', 'model-index.yml')


def packages() -> list:
    """mixmim_plugin and mixmim_tools (from TOOLS_DIR) with their
    subpackages."""
    tools = [f'{TOOLS_PACKAGE}.{name}' for name in find_packages(TOOLS_DIR)]
    return find_packages(include=(PACKAGE,
                                  PACKAGE + '.*')) + [TOOLS_PACKAGE, *tools]


def place(src: str, dst: str, mode: str, link: Optional[str] = None) -> None:
    """Put ``src`` at ``dst`` (replacing what is there): with mode
    'symlink' as a symlink to ``link`` (default: ``src`` relative to the
    folder of ``dst``), where that fails or with mode 'copy' as a copy."""
    if osp.islink(dst) or osp.isfile(dst):
        os.remove(dst)
    elif osp.isdir(dst):
        shutil.rmtree(dst)
    if mode == 'symlink':
        try:
            os.symlink(
                link or osp.relpath(src, osp.dirname(dst)), dst,
                osp.isdir(src))
            return
        except OSError:  # e.g. Windows without the symlink privilege
            print(f'cannot create the symlink {dst}, copying {src}')
    if osp.isdir(src):
        shutil.copytree(
            src, dst, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
    else:
        shutil.copyfile(src, dst)


def add_mim_extension(mim_dir: str, mode: str) -> None:
    """Put the top-level MIM_ITEMS into ``mim_dir`` as a 'symlink' or a
    'copy' (replacing what is there)."""
    os.makedirs(mim_dir, exist_ok=True)
    for item in MIM_ITEMS:
        place(osp.join(ROOT, item), osp.join(mim_dir, item), mode)


class BuildPy(build_py):
    """Copy ``.mim`` into the build tree (wheel, ``pip install .``); in a PEP
    660 editable build, where the package stays in the source tree, link it
    there."""

    def run(self):
        super().run()
        if getattr(self, 'editable_mode', False):
            add_mim_extension(osp.join(ROOT, PACKAGE, '.mim'), 'symlink')
        else:
            add_mim_extension(
                osp.join(self.build_lib, PACKAGE, '.mim'), 'copy')


class Develop(develop):
    """``setup.py develop``, which pip runs for ``pip install -e .`` here (no
    pyproject.toml): link ``.mim`` and install the source tree with an
    egg-link, as setuptools < 80 did.

    openmim 0.3.9 takes ``<location of the metadata>/mixmim_plugin`` for the
    package. setuptools >= 80 turns ``develop`` into a PEP 660 install whose
    metadata sits in site-packages, where openmim then finds no package; with
    an egg-link the metadata is this tree's ``mixmim_plugin.egg-info``.
    The egg-link puts this tree on the path, which holds ``mixmim_plugin``;
    ``mixmim_tools`` (in ``tools/``) gets a symlink in site-packages
    (which ``pip uninstall`` leaves behind). Dependencies are not installed
    (setup.cfg declares none).
    """

    def run(self):
        add_mim_extension(osp.join(ROOT, PACKAGE, '.mim'), 'symlink')
        self.reinitialize_command('egg_info', egg_base=ROOT)
        self.run_command('egg_info')
        site_dir = self.site_dir()
        os.makedirs(site_dir, exist_ok=True)
        # named as pip (and pkg_resources' safe_name) expect: mixmim-plugin
        name = re.sub('[^A-Za-z0-9.]+', '-', self.distribution.get_name())
        egg_link = osp.join(site_dir, f'{name}.egg-link')
        with open(egg_link, 'w') as f:
            f.write(f'{ROOT}\n.')
        # pip uninstall removes the egg-link and this line of easy-install.pth
        pth = osp.join(site_dir, 'easy-install.pth')
        lines = open(pth).read().splitlines() if osp.exists(pth) else []
        if ROOT not in lines:
            with open(pth, 'w') as f:
                f.write('\n'.join(lines + [ROOT]) + '\n')
        print(f'installed {egg_link} -> {ROOT}')
        tools = osp.join(ROOT, TOOLS_DIR)
        place(tools, osp.join(site_dir, TOOLS_PACKAGE), 'symlink', tools)
        print(f'installed {osp.join(site_dir, TOOLS_PACKAGE)} -> {tools}')

    def site_dir(self) -> str:
        """Where the egg-link goes: --install-dir, --user or --prefix, else
        this interpreter's site-packages."""
        if self.install_dir:
            return self.install_dir
        if self.user:
            return site.getusersitepackages()
        if self.prefix:
            prefix = {'base': self.prefix, 'platbase': self.prefix}
            return sysconfig.get_path('purelib', vars=prefix)
        return sysconfig.get_path('purelib')


class Sdist(sdist):
    """Ship ``mixmim_plugin/.mim`` in the sdist as copies."""

    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        add_mim_extension(osp.join(base_dir, PACKAGE, '.mim'), 'copy')


setup(
    packages=packages(),
    package_dir={TOOLS_PACKAGE: TOOLS_DIR},
    cmdclass=dict(build_py=BuildPy, develop=Develop, sdist=Sdist))
