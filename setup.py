"""Install script; the package metadata lives in setup.cfg.

Besides the package, this installs openmim's ``.mim`` extension: the
``configs/``, ``tools/`` and ``model-index.yml`` that ``mim train``, ``mim
test`` and ``mim search mixmim_plugin`` look for in ``mixmim_plugin/.mim/``.

* An editable install (``pip install -e .``) links them: each
  ``mixmim_plugin/.mim/<item>`` is a relative symlink to the top-level
  ``<item>``, so edits to configs and tools are live.
* A build (``pip wheel .``, ``pip install .``, ``python -m build``) copies
  them: the wheel and the sdist hold real files.
"""
import os
import os.path as osp
import re
import shutil
import site
import sysconfig
from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.develop import develop
from setuptools.command.sdist import sdist

ROOT = osp.dirname(osp.abspath(__file__))
PACKAGE = 'mixmim_plugin'
MIM_ITEMS = ('configs', 'tools', 'model-index.yml')


def add_mim_extension(mim_dir: str, mode: str) -> None:
    """Put the top-level MIM_ITEMS into ``mim_dir`` as a 'symlink' or a
    'copy' (replacing what is there)."""
    os.makedirs(mim_dir, exist_ok=True)
    for item in MIM_ITEMS:
        src, dst = osp.join(ROOT, item), osp.join(mim_dir, item)
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            try:
                os.symlink(osp.relpath(src, mim_dir), dst, osp.isdir(src))
                continue
            except OSError:  # e.g. Windows without the symlink privilege
                print(f'cannot create the symlink {dst}, copying {src}')
        if osp.isdir(src):
            shutil.copytree(
                src,
                dst,
                ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        else:
            shutil.copyfile(src, dst)


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
    Dependencies are not installed (setup.cfg declares none).
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


setup(cmdclass=dict(build_py=BuildPy, develop=Develop, sdist=Sdist))
