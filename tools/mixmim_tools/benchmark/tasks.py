"""What a benchmarked config trains: pretraining (or classification),
detection or segmentation, read off the last transform of its train
pipeline (``PackDetInputs``, ``PackSegInputs``, anything else).

A task says how to feed the config without a dataset and what its benchmark
input is:

- **pretraining**: synthetic square images through the whole train pipeline
  but its loading; ``--img-size`` is the crop
  (:func:`~mixmim_tools.benchmark.input_size.set_input_size`);
- **detection**: synthetic 640x480 images with instances (boxes, bitmap
  masks, labels in the model's classes), as ``LoadAnnotations`` gives them.
  The train pipeline's geometric transforms (resizes, random choices of
  resizes, crops, pads) become one keep-ratio ``Resize`` to the test scale
  (800x1067 for COCO's ``(1333, 800)``), so that every detector is
  measured at the same input; ``--img-size`` is the shorter side (the
  longer limit scaled alike, and raised where the 4:3 image needs it).
  Flips and colour transforms stay;
- **segmentation**: synthetic 683x512 images with label maps of random
  class blocks, through the whole train pipeline (random resize, crop with
  its category-ratio check, flip, photometric distortion); ``--img-size``
  is the crop's shorter side, and the resize scales, the data
  preprocessor's size, the slide-test window and a backbone ``img_size``
  equal to the crop follow it.

Detection and segmentation models are also timed in eval mode
(``mode='predict'``, post-processing included) and their FLOPs are those of
``mode='tensor'`` (the network without post-processing, as mmdet's and
mmseg's ``get_flops.py`` count them); pretraining FLOPs are those of the
training loss.
"""
from typing import List, Optional, Tuple

import numpy as np
from mmengine.config import Config

from .input_size import set_input_size

DETECTION, SEGMENTATION, PRETRAINING = 'detection', 'segmentation', 'pretrain'
# transforms of a detection train pipeline replaced by one fixed Resize
GEOMETRIC = ('Resize', 'RandomResize', 'RandomChoiceResize', 'RandomChoice',
             'RandomCrop', 'RandomCenterCropPad', 'Pad', 'FixShapeResize',
             'FixScaleResize', 'RandomAffine', 'Mosaic', 'MixUp')
DET_SOURCE = (480, 640)  # (h, w) of a typical COCO image
SEG_SOURCE = (512, 683)  # of a typical ADE20K image
INSTANCES_PER_IMAGE = 4
BLOCKS = 4  # label maps are BLOCKS x BLOCKS blocks of random classes


def type_name(transform: dict) -> str:
    """``'Resize'`` for ``'mmdet.Resize'`` (and for a class)."""
    kind = transform.get('type', '')
    return (kind if isinstance(kind, str) else kind.__name__).split('.')[-1]


def task_of(pipeline: List[dict]) -> str:
    last = type_name(pipeline[-1]) if pipeline else ''
    return {
        'PackDetInputs': DETECTION,
        'PackSegInputs': SEGMENTATION
    }.get(last, PRETRAINING)


def without_loading(pipeline: List[dict]) -> List[dict]:
    """The pipeline without its ``Load*`` transforms (the synthetic samples
    are what they would load)."""
    return [t for t in pipeline if not type_name(t).startswith('Load')]


# ------------------------------------------------------------ input sizes
def set_detection_scale(cfg: Config, pipeline: List[dict],
                        short: Optional[int]) -> str:
    """Replace, in place, the geometric transforms of a detection train
    pipeline by one keep-ratio ``Resize`` to the test scale, its shorter
    side set to ``short`` if given; returns a note saying what changed."""
    long_side, short_side = test_scale(cfg)
    if short is not None:
        # the longer limit scales with the shorter side, and is at least
        # what the source's aspect needs, so that the shorter side is met
        height, width = DET_SOURCE
        long_side = max(
            round(long_side * short / short_side), -(-short * width // height))
        short_side = short
    geometric = [
        i for i, t in enumerate(pipeline) if type_name(t) in GEOMETRIC
    ]
    if not geometric:
        raise ValueError('no resize in the train pipeline to set the input '
                         'size with')
    replaced = [type_name(pipeline[i]) for i in geometric]
    resize = dict(
        type='Resize', scale=(long_side, short_side), keep_ratio=True)
    for i in reversed(geometric[1:]):
        del pipeline[i]
    pipeline[geometric[0]] = resize
    return (f'train resizes ({", ".join(replaced)}) -> Resize to shorter side '
            f'{short_side}, longer at most {long_side}')


def test_scale(cfg: Config) -> Tuple[int, int]:
    """(longer, shorter) side of the first tuple ``Resize`` scale of the test
    pipeline (else of the train pipeline)."""
    for loader in ('test_dataloader', 'val_dataloader', 'train_dataloader'):
        dataset = cfg.get(loader, {}).get('dataset', {})
        while isinstance(dataset, dict) and 'pipeline' not in dataset:
            dataset = dataset.get('dataset')
        for t in (dataset or {}).get('pipeline', []):
            scale = t.get('scale')
            if type_name(t) == 'Resize' and isinstance(scale, (tuple, list)):
                return max(scale), min(scale)
    raise ValueError('no Resize with a (w, h) scale in the test or train '
                     'pipeline')


def set_crop_size(cfg: Config, pipeline: List[dict], size: int) -> str:
    """Make ``size`` the shorter side of a segmentation config's train crop,
    in place: the crop, the resize scales, the data preprocessor's size,
    the slide-test window and stride and a backbone ``img_size`` equal to
    the crop scale alike; returns a note."""
    crop = next((tuple(t['crop_size']) for t in pipeline
                 if type_name(t) == 'RandomCrop' and 'crop_size' in t), None)
    if crop is None:
        raise ValueError('no RandomCrop crop_size in the train pipeline to '
                         'change')
    factor = size / min(crop)
    new_crop = tuple(round(s * factor) for s in crop)

    def scaled(value):
        if isinstance(value, (tuple, list)):
            return type(value)(round(v * factor) for v in value)
        return round(value * factor)

    for t in pipeline:
        if type_name(t) == 'RandomCrop':
            t['crop_size'] = new_crop
        elif isinstance(t.get('scale'), (tuple, list, int)):
            t['scale'] = scaled(t['scale'])
    model = cfg.model
    preprocessor = model.get('data_preprocessor') or {}
    if preprocessor.get('size') is not None:
        preprocessor['size'] = scaled(preprocessor['size'])
    test_cfg = model.get('test_cfg') or {}
    for key in ('crop_size', 'stride'):
        if test_cfg.get(key) is not None:
            test_cfg[key] = scaled(test_cfg[key])
    backbone = model.get('backbone') or {}
    if backbone.get('img_size') in (crop, list(crop), crop[0]):
        backbone['img_size'] = scaled(backbone['img_size'])
    return f'crop {crop[0]}x{crop[1]} -> {new_crop[0]}x{new_crop[1]}'


def set_task_input_size(task: str, cfg: Config, pipeline: List[dict],
                        size: Optional[int]) -> Optional[str]:
    """The task's input-size rule (see the module docstring) applied in
    place to ``cfg`` and its train ``pipeline``; a note, or None where
    nothing changed."""
    if task == DETECTION:
        return set_detection_scale(cfg, pipeline, size)
    if size is None:
        return None
    if task == SEGMENTATION:
        return set_crop_size(cfg, pipeline, size)
    return f'input size {set_input_size(cfg, size)} -> {size}'


def check_input_size(task: str, batch: dict, size: int) -> None:
    """Raise ``ValueError`` where the fed batch does not have the
    ``--img-size`` the task's rule promises."""
    samples = batch['data_samples']
    if task == DETECTION:
        shorts = {min(s.metainfo['img_shape']) for s in samples}
        if shorts != {size}:
            raise ValueError(f'the pipeline gives images of shorter side '
                             f'{sorted(shorts)}, not {size}')
        return
    inputs = batch['inputs']
    views = [inputs] if hasattr(inputs, 'shape') else list(inputs)
    short = min(views[-1].shape[-2:])
    if short != size or (task == PRETRAINING
                         and views[-1].shape[-1] != views[-1].shape[-2]):
        shape = 'x'.join(map(str, views[-1].shape[-2:]))
        square = '' if task == SEGMENTATION else f'{size}x'
        raise ValueError(f'the pipeline gives {shape} inputs, not '
                         f'{square}{size}' +
                         ('' if square else ' on the shorter side'))


# -------------------------------------------------------- synthetic data
def synthetic_image(rng: np.random.Generator, height: int,
                    width: int) -> np.ndarray:
    """A uint8 (height, width, 3) image: a smooth colour gradient with
    noise."""
    c0, c1 = rng.uniform(0, 255, (2, 3)).astype(np.float32)
    ramp_y = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    ramp_x = np.linspace(0, 1, width, dtype=np.float32)[None, :, None]
    image = c0 + (c1 - c0) * ramp_x * ramp_y
    image = image + rng.normal(0, 20, image.shape).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8)


def _image_sample(image: np.ndarray, index: int) -> dict:
    return dict(
        img=image,
        img_shape=image.shape[:2],
        ori_shape=image.shape[:2],
        img_id=index,
        img_path=f'synthetic_{index}.png')


def pretraining_sample(rng: np.random.Generator, index: int, size: int,
                       num_classes: int) -> dict:
    return _image_sample(synthetic_image(rng, size, size), index)


def detection_sample(rng: np.random.Generator, index: int, size: int,
                     num_classes: int) -> dict:
    """An image and its instances as mmdet's ``LoadAnnotations`` gives
    them: ``gt_bboxes`` (HorizontalBoxes), ``gt_bboxes_labels``,
    ``gt_ignore_flags`` and ``gt_masks`` (BitmapMasks: an ellipse filling
    each box)."""
    from mmdet.structures.bbox import HorizontalBoxes
    from mmdet.structures.mask import BitmapMasks
    height, width = DET_SOURCE
    sample = _image_sample(synthetic_image(rng, height, width), index)
    count = INSTANCES_PER_IMAGE
    sizes = rng.uniform(0.15, 0.5, (count, 2)) * (width, height)
    corners = rng.uniform(0, 1, (count, 2)) * ((width, height) - sizes)
    boxes = np.concatenate([corners, corners + sizes], 1).astype(np.float32)
    ys, xs = np.mgrid[:height, :width]
    masks = np.stack([((xs - (x0 + x1) / 2) / ((x1 - x0) / 2))**2 +
                      ((ys - (y0 + y1) / 2) / ((y1 - y0) / 2))**2 <= 1
                      for x0, y0, x1, y1 in boxes]).astype(np.uint8)
    sample.update(
        gt_bboxes=HorizontalBoxes(boxes),
        gt_bboxes_labels=rng.integers(0, num_classes, count).astype(np.int64),
        gt_ignore_flags=np.zeros(count, dtype=bool),
        gt_masks=BitmapMasks(masks, height, width))
    return sample


def segmentation_sample(rng: np.random.Generator, index: int, size: int,
                        num_classes: int) -> dict:
    """An image and its label map as mmseg's ``LoadAnnotations`` gives
    them (``gt_seg_map``, ``seg_fields``): blocks of random classes."""
    height, width = SEG_SOURCE
    sample = _image_sample(synthetic_image(rng, height, width), index)
    blocks = rng.integers(0, num_classes, (BLOCKS, BLOCKS)).astype(np.uint8)
    rows = np.arange(height) * BLOCKS // height
    cols = np.arange(width) * BLOCKS // width
    sample.update(
        gt_seg_map=blocks[rows][:, cols],
        seg_map_path=f'synthetic_{index}.png',
        seg_fields=['gt_seg_map'],
        reduce_zero_label=False)
    return sample


SAMPLERS = {
    PRETRAINING: pretraining_sample,
    DETECTION: detection_sample,
    SEGMENTATION: segmentation_sample,
}


def num_classes(node) -> Optional[int]:
    """The first integer ``num_classes`` in a model config (depth first),
    or None."""
    if isinstance(node, dict):
        if isinstance(node.get('num_classes'), int):
            return node['num_classes']
        node = list(node.values())
    for item in node if isinstance(node, (list, tuple)) else ():
        found = num_classes(item)
        if found is not None:
            return found
    return None
