"""Pictures of a pretrained model from its config, a checkpoint and a
folder of images (the library behind
``tools/visualization/visualize_pretrain.py``).

The images go through the config's training pipeline made deterministic
(:func:`eval_pipeline`: the random crop becomes a resize to the crop size,
other random augmentations are left out; the mask generators stay, drawing
from the seeded RNG), then through the model's data preprocessor.
"""
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, default_collate
from torch import nn

from mixmim_plugin.converters import (CheckpointFileError,
                                      load_checkpoint_file, unwrap)
from .. import configs
from .drawers import DRAWERS, Drawer

IMAGE_EXTENSIONS = ('.bmp', '.jpeg', '.jpg', '.png', '.tif', '.tiff', '.webp')


class VisualizationError(RuntimeError):
    """An input of the visualization is unusable; the message says which."""


class ConfigError(VisualizationError):
    """The config cannot be read or its model cannot be built or drawn."""


class CheckpointMismatch(VisualizationError):
    """The checkpoint does not fit the model (missing / unexpected keys,
    shapes)."""


class NoImagesError(VisualizationError):
    """The image folder is missing or holds no images."""


# ---------------------------------------------------------------- inputs
def list_images(folder: str, limit: Optional[int] = None) -> List[str]:
    """Image files under ``folder`` (recursively, sorted), at most
    ``limit``."""
    if not osp.isdir(folder):
        raise NoImagesError(f'image folder not found: {folder}')
    found = sorted(
        osp.join(root, name) for root, _, names in os.walk(folder)
        for name in names if name.lower().endswith(IMAGE_EXTENSIONS))
    if not found:
        raise NoImagesError(
            f'no images ({", ".join(IMAGE_EXTENSIONS)}) under {folder}')
    return found[:limit] if limit else found


def load_config(path: str) -> Config:
    """Read a config (:func:`mixmim_tools.configs.load_config`); any
    failure is a :class:`ConfigError`."""
    try:
        return configs.load_config(path)
    except Exception as err:  # syntax errors, missing bases, ...
        raise ConfigError(f'cannot read the config {path}: '
                          f'{type(err).__name__}: {err}') from None


def build_model(cfg: Config) -> nn.Module:
    """Build ``cfg.model`` (weights not initialised: a checkpoint is loaded
    next) in the config's scope, in eval mode."""
    if 'model' not in cfg:
        raise ConfigError('the config has no model')
    try:
        model = configs.build_model(cfg)
    except Exception as err:  # unknown types, bad arguments, ...
        raise ConfigError(f'cannot build the model of the config: '
                          f'{type(err).__name__}: {err}') from None
    return model.eval()


def load_weights(model: nn.Module, checkpoint: str) -> None:
    """Load a plugin checkpoint into ``model``; every key must match.

    Raises:
        CheckpointMismatch: an unreadable file, or missing or unexpected
            keys or shapes that do not fit (all listed).
    """
    try:
        state = unwrap(load_checkpoint_file(checkpoint, trust_option=None))
    except CheckpointFileError as err:
        raise CheckpointMismatch(str(err)) from None
    shapes = []
    try:
        result = model.load_state_dict(state, strict=False)
        missing, unexpected = result.missing_keys, result.unexpected_keys
    except (RuntimeError, KeyError, ValueError) as err:
        own = set(model.state_dict())
        missing, unexpected = sorted(own -
                                     set(state)), sorted(set(state) - own)
        lines = [line.strip() for line in str(err).splitlines()]
        sizes = [line for line in lines if line.startswith('size mismatch')]
        shapes.append('; '.join(sizes[:3]) if sizes else lines[-1])
    problems = [
        _listing(name, keys)
        for name, keys in (('missing', missing),
                           ('unexpected', unexpected)) if keys
    ] + shapes
    if problems:
        raise CheckpointMismatch(
            f'{checkpoint} does not fit {type(model).__name__}: '
            f'{", ".join(problems)} (convert checkpoints of other layouts '
            'with tools/model_converters)')


def _listing(name: str, keys: Sequence[str], shown: int = 5) -> str:
    more = f' and {len(keys) - shown} more' if len(keys) > shown else ''
    return f'{len(keys)} {name} keys {list(keys[:shown])}{more}'


def eval_pipeline(pipeline: Sequence[dict]) -> List[dict]:
    """The training pipeline made deterministic: ``RandomResizedCrop``
    becomes a resize of the whole image to the crop size, other
    ``Random*`` transforms are dropped, everything else (loading, mask
    generators, packing) is kept."""
    out = []
    for transform in pipeline:
        kind = transform.get('type', '')
        if kind == 'RandomResizedCrop':
            scale = transform['scale']
            h, w = (scale, scale) if isinstance(scale, int) else scale
            out.append(
                dict(
                    type='Resize',
                    scale=(w, h),
                    interpolation=transform.get('interpolation', 'bilinear'),
                    backend=transform.get('backend', 'cv2')))
        elif not kind.startswith('Random'):
            out.append(dict(transform))
    return out


def load_batch(cfg: Config, model: nn.Module, paths: Sequence[str]) -> dict:
    """Read ``paths`` through the deterministic pipeline and the model's
    data preprocessor: ``{'inputs': (B, 3, H, W), 'data_samples': [...]}``.
    """
    try:
        pipeline_cfg = configs.train_pipeline(cfg)
    except KeyError as err:
        raise ConfigError(err.args[0]) from None
    with configs.in_config_scope(cfg):
        pipeline = Compose(eval_pipeline(pipeline_cfg))
        samples = [pipeline(dict(img_path=path)) for path in paths]
    if isinstance(samples[0]['inputs'], list):
        raise ConfigError('the pipeline makes several views of every image '
                          '(a contrastive method): nothing to draw')
    with torch.no_grad():
        return model.data_preprocessor(default_collate(samples), False)


def drawer_of(model: nn.Module) -> Drawer:
    """The registered drawer of ``model``'s method."""
    for drawer in DRAWERS.values():
        if isinstance(model, drawer.model_type):
            return drawer
    raise ConfigError(f'no picture for {type(model).__name__}: the tool '
                      f'draws {sorted(DRAWERS)} pretrainers')


def even_paths(paths: List[str]) -> List[str]:
    """MixMIM mixes pairs: keep an even number (at least two) of images."""
    if len(paths) < 2:
        raise NoImagesError('MixMIM mixes pairs of images: give at least two')
    return paths[:len(paths) // 2 * 2]


def visualize(cfg: Config, model: nn.Module,
              paths: Sequence[str]) -> Tuple[str, np.ndarray]:
    """Draw the picture of ``model`` for the images ``paths``.

    Returns:
        Its file stem (e.g. ``'mae_reconstruction'``) and the (H, W, 3)
        uint8 grid.
    """
    drawer = drawer_of(model)
    paths = even_paths(list(paths)) if drawer.pairs else list(paths)
    data = load_batch(cfg, model, paths)
    preprocessor = model.data_preprocessor
    mean = preprocessor.mean.flatten().tolist()
    std = preprocessor.std.flatten().tolist()
    return drawer.name, drawer.draw(model, data, mean, std)
