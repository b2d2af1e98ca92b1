"""The run matrix: every config file under configs/, run the way a user runs
it, on the embedded data, on the CPU.

A config runs through its toolbox's own command, in a subprocess:
``python tools/train.py`` / ``tools/test.py`` for the plugin's configs
(pretraining, mmpretrain fine-tuning and linear probing), and
``mim train|test mmdet|mmseg`` for the Mask R-CNN and UPerNet configs, so
their optimizer wrappers, collate functions, hooks, models and loops are the
ones users get. :func:`run_options` is the ONE place that says what the
matrix changes, always as ``--cfg-options`` (the user's own mechanism):

- data locations: every dataset's ``data_root``, the evaluators'
  ``ann_file``, the class set of a COCO-format set with other categories
  (``metainfo.classes`` and the two heads' ``num_classes``, the keys of the
  README's "Your own data"), and the pretrained checkpoint a transfer config
  starts from (``model.backbone.init_cfg.checkpoint``: the checkpoint of the
  matrix's run of the pretraining config that the transfer config names);
- sizes: batch size, the number of samples (``dataset.indices``), the
  dataloader workers (0: the data is tiny);
- lengths: one epoch of one iteration (or one iteration; more where the
  config's schedule needs them: :func:`run_length`), validation at the end;
- the input scale of the detection and segmentation pipelines
  (:data:`INPUT_SCALE`); classification and pretraining keep theirs (their
  models are built for it).
"""
import glob
import math
import os
import os.path as osp
import subprocess
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Dict, Iterator, List, NamedTuple, Optional, Tuple

from mmengine.config import Config
from pytest import StashKey

from mixmim_tools.transfer import (DATALOADERS, data_overrides, datasets,
                                   pretraining_source, task)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG_DIR = osp.join(ROOT, 'configs')
BIN = osp.dirname(sys.executable)
BATCH = 2  # even: MixMIM pairs images; >1: MoBY's BatchNorm
EVAL_SAMPLES = 2
# input scale of the dense tasks: 1333x800 -> 267x160, 512 crops -> 128
INPUT_SCALE = {'det': 1 / 5, 'seg': 1 / 4}
SIZE_KEYS = ('scale', 'scales', 'crop_size', 'img_scale', 'size', 'stride')
TIMEOUT = 900
# pytest stash key: the configs of the session's selected matrix tests
MATRIX_SELECTED = StashKey()


def all_configs() -> List[str]:
    """Every runnable config (repository-relative), found by globbing."""
    paths = glob.glob(osp.join(CONFIG_DIR, '**', '*.py'), recursive=True)
    return sorted(
        osp.relpath(p, ROOT) for p in paths
        if '_base_' not in osp.relpath(p, CONFIG_DIR).split(os.sep))


_LOAD_LOCK = threading.Lock()


def load(config: str) -> Config:
    """The config as a user's tool loads it (thread-safe: resolving
    ``mmdet::`` bases through pkg_resources is not)."""
    with _LOAD_LOCK:
        return Config.fromfile(osp.join(ROOT, config))


def toolbox(cfg: Config) -> str:
    """``'mixmim_plugin'``, ``'mmdet'`` or ``'mmseg'``: whose tools run it."""
    return cfg.get('default_scope', 'mixmim_plugin')


def has_loop(cfg: Config, split: str) -> bool:
    """Whether the Runner builds this loop (an empty ``test_cfg`` does)."""
    return all(
        cfg.get(f'{split}_{key}', None) is not None
        for key in ('dataloader', 'cfg', 'evaluator'))


# ------------------------------------------------------- pretrained weights
def pretraining_of(cfg: Config) -> Optional[Tuple[str, bool]]:
    """``pretraining_source`` with the config repository-relative, as
    :func:`all_configs` names it."""
    source = pretraining_source(cfg)
    return source and (osp.relpath(source[0], ROOT), source[1])


def upstream_configs() -> frozenset:
    """The pretraining configs that some transfer config starts from."""
    sources = (
        pretraining_of(load(c)) for c in all_configs() if '/benchmarks/' in c)
    return frozenset(source[0] for source in sources if source)


# ----------------------------------------------------------------- overrides
def _scaled(value, factor: float):
    if isinstance(value, (list, tuple)):
        return type(value)(_scaled(v, factor) for v in value)
    if isinstance(value, int) and not isinstance(value, bool):
        return max(8, int(math.ceil(value * factor)))
    return value


def _size_options(node, path: str, factor: float) -> Iterator[str]:
    """``path.key=value`` for every size entry below ``node``."""
    items = (
        node.items() if isinstance(node, dict) else
        enumerate(node) if isinstance(node, (list, tuple)) else ())
    for key, value in items:
        where = f'{path}.{key}'
        if isinstance(key, str) and key in SIZE_KEYS and value is not None:
            yield f'{where}={_literal(_scaled(value, factor))}'
        else:
            yield from _size_options(value, where, factor)


def _literal(value) -> str:
    """A value as DictAction parses it back (no spaces, no quotes)."""
    if isinstance(value, tuple):
        return '(' + ','.join(_literal(v) for v in value) + ')'
    if isinstance(value, list):
        return '[' + ','.join(_literal(v) for v in value) + ']'
    return str(value)


def data_options(cfg: Config,
                 data: Dict[str, str],
                 checkpoint: Optional[str] = None) -> List[str]:
    """Where the data (and the pretrained checkpoint) are: the keys of the
    README's "Your own data", set to the embedded data."""
    return [
        f'{key}={_literal(value)}'
        for key, value in data_overrides(cfg, data, checkpoint).items()
    ]


def size_options(cfg: Config) -> List[str]:
    """Batch size, sample count, workers, run length, input scale, and no
    fsync of checkpoints."""
    options = []
    for field in DATALOADERS:
        if cfg.get(field, None):
            options += [
                f'{field}.batch_size={BATCH}', f'{field}.num_workers=0',
                f'{field}.persistent_workers=False'
            ]
    for field, where, dataset in datasets(cfg):
        count = BATCH if field == 'train_dataloader' else EVAL_SAMPLES
        options.append(f'{where}.indices={count}')
        if task(cfg) in INPUT_SCALE:
            options += _size_options(
                dataset.get('pipeline', []), f'{where}.pipeline',
                INPUT_SCALE[task(cfg)])
    if task(cfg) in INPUT_SCALE:
        for part in ('data_preprocessor', 'test_cfg'):
            options += _size_options(
                cfg.model.get(part) or {}, f'model.{part}',
                INPUT_SCALE[task(cfg)])
    loop = cfg.train_cfg
    unit = ('max_iters' if loop.get('type', '').startswith('IterBased')
            or loop.get('by_epoch') is False else 'max_epochs')
    length = run_length(cfg)
    options.append(f'train_cfg.{unit}={length}')
    if has_loop(cfg, 'val'):
        options.append(f'train_cfg.val_interval={length}')
    # this machine's disk syncs ~12 MB/s: a MixMIM-B checkpoint would wait
    # 2 minutes for fsync; the atomic rename (what a kill needs) stays
    options.append('fault_tolerance.fsync=False')
    return options


def run_length(cfg: Config) -> int:
    """The shortest run (epochs or iterations of one batch) that the
    config's own schedule allows: 1, or one past the latest ``begin`` of a
    scheduler without ``end`` (whose end is the run's length)."""
    schedulers = cfg.get('param_scheduler', None) or []
    if isinstance(schedulers, dict):
        schedulers = [schedulers]
    open_ended = [s.get('begin', 0) for s in schedulers if 'end' not in s]
    return 1 + max(open_ended, default=0)


def run_options(cfg: Config,
                data: Dict[str, str],
                checkpoint: Optional[str] = None) -> List[str]:
    """All of the matrix's overrides of ``cfg`` as ``--cfg-options``.

    Args:
        cfg: the loaded config.
        data: dataset roots ``{'imagenet', 'coco', 'ade'}``.
        checkpoint: the pretrained checkpoint for ``Pretrained`` backbones.
    """
    return data_options(cfg, data, checkpoint) + size_options(cfg)


# ---------------------------------------------------------------- commands
def train_command(config: str, cfg: Config, work_dir: str,
                  options: List[str]) -> List[str]:
    scope = toolbox(cfg)
    if scope == 'mixmim_plugin':
        head = [sys.executable, osp.join(ROOT, 'tools', 'train.py'), config]
    else:
        head = [osp.join(BIN, 'mim'), 'train', scope, config]
    return head + ['--work-dir', work_dir, '--cfg-options'] + options


def test_command(config: str, cfg: Config, checkpoint: str, work_dir: str,
                 options: List[str]) -> List[str]:
    scope = toolbox(cfg)
    if scope == 'mixmim_plugin':
        head = [
            sys.executable,
            osp.join(ROOT, 'tools', 'test.py'), config, checkpoint
        ]
    else:
        head = [
            osp.join(BIN, 'mim'), 'test', scope, config, '--checkpoint',
            checkpoint
        ]
    return head + ['--work-dir', work_dir, '--cfg-options'] + options


def run(command: List[str],
        env: Optional[Dict[str, str]] = None,
        cwd: str = ROOT) -> Tuple[int, str]:
    """Run a command (from the repository root by default) with the venv's
    tools first on PATH and ``env`` added; (exit code, output)."""
    env = {
        **os.environ, 'PATH': BIN + os.pathsep + os.environ.get('PATH', ''),
        'OMP_NUM_THREADS': '1',
        **(env or {})
    }
    done = subprocess.run(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=TIMEOUT)
    return done.returncode, done.stdout


def last_checkpoint(work_dir: str) -> str:
    """The checkpoint mmengine's ``last_checkpoint`` file points at."""
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


# ------------------------------------------------------------------- runs
class MatrixRun(NamedTuple):
    """What the matrix saw of one config: its training run (and the
    checkpoint it saved) and, where the config has one, its test run."""
    config: str
    code: int
    output: str
    checkpoint: Optional[str]
    checkpoint_bytes: int = 0
    test_code: Optional[int] = None
    test_output: str = ''


def slug(config: str) -> str:
    return osp.splitext(config)[0].replace(os.sep, '__')


class Matrix:
    """Runs configs in ``workers`` parallel subprocesses (one torch thread
    each: most of a run is start-up, which is single-threaded), once per
    session. Pretraining configs go first; a transfer config waits for
    the pretraining run it starts from."""

    def __init__(self,
                 data: Dict[str, str],
                 out_dir: str,
                 workers: int = 2) -> None:
        self.data = data
        self.out_dir = out_dir
        self._pool = ThreadPoolExecutor(workers)
        self._futures: Dict[str, Future] = {}
        self._lock = threading.Lock()
        self.upstream = upstream_configs()

    def submit_all(self, configs: List[str]) -> None:
        """Queue ``configs``, the pretraining ones first."""
        for config in sorted(configs, key=lambda c: '/benchmarks/' in c):
            self.submit(config)

    def submit(self, config: str) -> Future:
        """Queue ``config`` once, after the pretraining run it starts from:
        a run only ever waits for runs queued before it, so no worker waits
        for a run queued behind it."""
        source = pretraining_of(load(config))
        if source is not None:
            self.submit(source[0])
        with self._lock:
            if config not in self._futures:
                self._futures[config] = self._pool.submit(self._run, config)
            return self._futures[config]

    def result(self, config: str) -> MatrixRun:
        return self.submit(config).result()

    def _run(self, config: str) -> MatrixRun:
        cfg = load(config)
        checkpoint = self._pretrained(cfg)
        work_dir = osp.join(self.out_dir, slug(config))
        code, out = run(
            train_command(config, cfg, work_dir,
                          run_options(cfg, self.data, checkpoint)))
        if code != 0:
            return MatrixRun(config, code, out, None)
        saved = last_checkpoint(work_dir)
        done = MatrixRun(config, code, out, saved, osp.getsize(saved))
        if has_loop(cfg, 'test'):
            test_code, test_out = run(
                test_command(config, cfg, saved, work_dir + '__test',
                             run_options(cfg, self.data)))
            done = done._replace(test_code=test_code, test_output=test_out)
        if config not in self.upstream:  # free the disk (B: 1.4 GB each)
            for path in glob.glob(osp.join(work_dir, '*.pth')):
                os.remove(path)
        return done

    def _pretrained(self, cfg: Config) -> Optional[str]:
        """The checkpoint a transfer config starts from: the matrix's run
        of the pretraining config it names, converted by moby2swin.py where
        the name says ``_swin``; None for a config without ``Pretrained``.
        """
        source = pretraining_of(cfg)
        if source is None:
            return None
        upstream, to_swin = source
        done = self.result(upstream)  # queued before this run
        if done.code != 0:
            raise RuntimeError(f'its pretraining config {upstream} failed:'
                               f'\n{done.output[-3000:]}')
        if not to_swin:
            return done.checkpoint
        swin = osp.splitext(done.checkpoint)[0] + '_swin.pth'
        if not osp.isfile(swin):  # the converter writes atomically
            code, out = run([
                sys.executable,
                osp.join(ROOT, 'tools', 'model_converters', 'moby2swin.py'),
                done.checkpoint, swin
            ])
            if code != 0:
                raise RuntimeError(f'moby2swin.py failed:\n{out[-3000:]}')
        return swin
