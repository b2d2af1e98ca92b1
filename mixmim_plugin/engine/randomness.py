"""Randomness that is a function of where training is, so a resumed run
repeats the uninterrupted one exactly.

Saving the RNG states in a checkpoint is not enough: between the save and
the next iteration, validation and the dataloader's worker start-up draw
from the global generators, dataloader workers keep their own streams
(persistent workers outlive the epoch), and mmengine's worker seeds do not
depend on the epoch. Instead, nothing is carried over:

* the global Python, NumPy and torch generators are re-seeded before every
  training iteration from (seed, iteration): drop path, mask sampling in
  the model, anything random in a step;
* every training sample is loaded under generators seeded from (seed,
  epoch, position in the epoch's order, index) and restored afterwards
  (:class:`SeededDataset`), in the main process or a worker alike, however
  many workers and whether or not they persist;
* the sampler's order depends on (seed, epoch) only (mmengine's samplers),
  and after a resume in the middle of an epoch :class:`SeededSampler`
  skips the samples the killed run had already used.
"""
import random
from contextlib import contextmanager
from typing import Iterator, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from mixmim_plugin.registry import DATA_SAMPLERS, DATASETS

Key = Tuple[int, int, int]  # (epoch, position in its order, index)


def derived_seed(*parts: int) -> int:
    """A 32-bit seed from integers (NumPy's SeedSequence hash: nearby
    inputs give unrelated seeds)."""
    return int(
        np.random.SeedSequence([p % 2**63
                                for p in parts]).generate_state(1)[0])


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's (CPU and CUDA) generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@contextmanager
def seeded_generators(seed: int):
    """Run the block under freshly seeded global generators and give the
    previous states back afterwards."""
    py_state, np_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        seed_everything(seed)
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


class SampleError(RuntimeError):
    """A training sample that cannot be loaded: names its file."""


def sample_file(dataset, index: int) -> str:
    """The file(s) behind sample ``index`` of an mmengine dataset."""
    try:
        info = dataset.get_data_info(index)
    except Exception:  # not an mmengine dataset, or the index is bad
        return 'file unknown'
    paths = [str(v) for k, v in info.items() if k.endswith('path')]
    return ', '.join(paths) or 'file unknown'


@DATASETS.register_module()
class SeededDataset(Dataset):
    """Loads the sample of a key ``(epoch, position, index)`` from
    :class:`SeededSampler` with generators seeded from all three and the
    run's seed. Other attributes are the wrapped dataset's.

    Args:
        dataset: the dataset (or its config).
        seed: the run's seed.
    """

    def __init__(self, dataset, seed: int) -> None:
        if isinstance(dataset, dict):
            dataset = DATASETS.build(dataset)
        self.dataset = dataset
        self.seed = int(seed)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: Key):
        index = key[-1]
        try:
            with seeded_generators(derived_seed(self.seed, *key)):
                return self.dataset[index]
        except Exception as error:
            raise SampleError(
                f'training sample {index} ({sample_file(self.dataset, index)}'
                f') failed to load: {type(error).__name__}: {error}'
            ) from error

    def __getattr__(self, name: str):
        # not for dunders (torch probes ``__getitems__``, which would get
        # keys) nor before ``dataset`` is set (unpickling in a worker)
        if name.startswith('__') or name == 'dataset':
            raise AttributeError(name)
        return getattr(self.dataset, name)


@DATA_SAMPLERS.register_module()
class SeededSampler(Sampler):
    """The wrapped sampler's indices as (epoch, position, index) keys for
    :class:`SeededDataset` (the position keeps the keys of an infinite
    sampler's repeated passes apart); ``skip(n)`` drops the first n indices
    of the next pass (a resume in the middle of an epoch).

    Args:
        sampler: the sampler config (built with ``dataset`` and ``seed``).
        dataset: the wrapped dataset (a :class:`SeededDataset`).
        seed: the run's seed.
    """

    def __init__(self, sampler: dict, dataset: SeededDataset,
                 seed: int) -> None:
        inner = dataset.dataset if isinstance(dataset,
                                              SeededDataset) else dataset
        self.sampler = DATA_SAMPLERS.build(
            sampler, default_args=dict(dataset=inner, seed=seed))
        self.epoch = 0
        self._skip = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if hasattr(self.sampler, 'set_epoch'):
            self.sampler.set_epoch(epoch)

    def skip(self, count: int) -> None:
        self._skip = count

    def __iter__(self) -> Iterator[Key]:
        skip, self._skip = self._skip, 0
        for position, index in enumerate(self.sampler):
            if position >= skip:
                yield self.epoch, position, index

    def __len__(self) -> int:
        return len(self.sampler)


def seeded_dataloader_cfg(dataloader: dict, seed: int) -> dict:
    """A train dataloader config whose dataset and sampler are wrapped in
    :class:`SeededDataset` / :class:`SeededSampler` (unchanged if they
    already are)."""
    dataloader = dict(dataloader)
    dataset = dataloader['dataset']
    if isinstance(dataset, dict) and dataset.get('type',
                                                 '').endswith('SeededDataset'):
        return dataloader
    dataloader['dataset'] = dict(
        type='mixmim_plugin.SeededDataset', dataset=dataset, seed=seed)
    dataloader['sampler'] = dict(
        type='mixmim_plugin.SeededSampler',
        sampler=dataloader.get('sampler') or dict(type='DefaultSampler'))
    return dataloader
