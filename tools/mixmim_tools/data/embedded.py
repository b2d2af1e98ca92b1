"""Small procedural datasets in the on-disk formats of ImageNet, COCO and
ADE20K, for tests and CPU demos (no download needed).

The data is drawn with numpy and PIL from a ``numpy.random.Generator``
seeded by ``(seed, dataset, split, index)``, so a generation is byte-for-byte
reproducible. It is loadable by the real dataset classes of mmpretrain
(``ImageNet``, ``CustomDataset``), mmdet (``CocoDataset``) and mmseg
(``ADE20KDataset``). Layout under ``root``::

    .embedded_data.json                 stamp: version, seed, counts
    imagenet/
        train/n0000000k/n0000000k_00000.JPEG    10 classes x 60, 128x128 RGB
        val/n0000000k/ILSVRC2012_val_00000001.JPEG          10 classes x 20
        meta/{train,val}.txt           lines '<class>/<name>.JPEG <label>'
    coco/
        {train2017,val2017}/000000000001.jpg       48 + 16 images, 160x160
        annotations/instances_{train2017,val2017}.json    polygon instances
    ade/ADEChallengeData2016/
        images/{training,validation}/ADE_train_00000001.jpg   48 + 16, 128
        annotations/{training,validation}/ADE_train_00000001.png   uint8,
            0 = other (ignored), else an ADE20K class id in ADE_CLASS_IDS

Image classes are learnable: an ImageNet-style class is one shape family,
texture and hue; a COCO category is a shape (drawn with random colour and
texture); an ADE class is a region with its own colour and texture in an
outdoor (sky, building, tree, grass) or indoor (wall, ceiling, floor) scene.
"""
import colorsys
import functools
import json
import os
import os.path as osp
import shutil
import tempfile
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw

GENERATOR_VERSION = 1
STAMP_NAME = '.embedded_data.json'
JPEG_QUALITY = 90

IMAGENET_CLASSES: List[str] = [f'n{k:08d}' for k in range(10)]
IMAGENET_SPLITS: Dict[str, int] = {'train': 60, 'val': 20}  # per class
IMAGENET_SIZE = 128
# Class k: shape IMAGENET_SHAPES[k % 5], striped when k >= 5, hue k / 10.
IMAGENET_SHAPES = ('circle', 'square', 'triangle', 'star', 'cross')

COCO_CLASSES: Tuple[str, ...] = ('circle', 'square', 'triangle', 'star')
COCO_SPLITS: Dict[str, int] = {'train2017': 48, 'val2017': 16}
COCO_SIZE = 160
COCO_OBJECTS = (2, 5)  # min and max instances per image
COCO_RADIUS = (12.0, 30.0)  # circumradius range of an instance, pixels

# ADE20K label id (1..150, as stored in the PNGs) -> mmseg class name.
ADE_CLASSES: Dict[int, str] = {
    1: 'wall',
    2: 'building',
    3: 'sky',
    4: 'floor',
    5: 'tree',
    6: 'ceiling',
    10: 'grass',
}
ADE_CLASS_IDS: Tuple[int, ...] = tuple(sorted(ADE_CLASSES))
ADE_SPLITS: Dict[str, int] = {'training': 48, 'validation': 16}
ADE_SIZE = 128
_WALL, _BUILDING, _SKY, _FLOOR, _TREE, _CEILING, _GRASS = 1, 2, 3, 4, 5, 6, 10

_DATASET_KEYS = {'imagenet': 1, 'coco': 2, 'ade': 3}
_SPLIT_KEYS = {
    'train': 1,
    'val': 2,
    'train2017': 1,
    'val2017': 2,
    'training': 1,
    'validation': 2
}

Color = np.ndarray  # float32 (3, ) colour in 0..255
FloatImage = np.ndarray  # float32 (H, W, 3) image in 0..255


# --------------------------------------------------------------- layout
def embedded_roots(root: str) -> Dict[str, str]:
    """The dataset roots under ``root``: ``imagenet``, ``coco``, ``ade``."""
    root = osp.abspath(osp.expanduser(os.fspath(root)))
    return {
        'imagenet': osp.join(root, 'imagenet'),
        'coco': osp.join(root, 'coco'),
        'ade': osp.join(root, 'ade', 'ADEChallengeData2016'),
    }


def read_stamp(root: str) -> Optional[dict]:
    """The stamp of a generated ``root``; None when there is none, ``{}``
    when it is unreadable (a damaged generation)."""
    path = osp.join(os.fspath(root), STAMP_NAME)
    if not osp.isfile(path):
        return None
    try:
        with open(path, encoding='utf-8') as f:
            stamp = json.load(f)
    except (OSError, ValueError):
        return {}
    return stamp if isinstance(stamp, dict) else {}


def is_generated(root: str, seed: int = 0) -> bool:
    """Whether ``root`` holds a complete generation of this version and
    ``seed``."""
    stamp = read_stamp(root)
    return (bool(stamp) and stamp.get('generator_version') == GENERATOR_VERSION
            and stamp.get('seed') == seed
            and all(osp.isdir(p) for p in embedded_roots(root).values()))


# --------------------------------------------------------------- drawing
def _rng(seed: int, dataset: str, split: str,
         index: int) -> np.random.Generator:
    """The generator of one sample: independent of every other sample."""
    return np.random.default_rng(
        [seed, _DATASET_KEYS[dataset], _SPLIT_KEYS[split], index])


def _hsv(hue: float, sat: float, val: float) -> Color:
    rgb = colorsys.hsv_to_rgb(hue % 1.0, sat, val)
    return np.array(rgb, np.float32) * np.float32(255)


@functools.lru_cache(maxsize=8)
def _grid(height: int, width: int) -> Tuple[np.ndarray, np.ndarray]:
    """(yy, xx) float32 pixel-centre coordinates, each (height, width);
    shared, read-only."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5
    yy.flags.writeable = xx.flags.writeable = False
    return yy, xx


def _gradient(size: int, c0: Color, c1: Color, angle: float) -> FloatImage:
    """A linear gradient (size, size, 3) from ``c0`` to ``c1`` along
    ``angle``."""
    yy, xx = _grid(size, size)
    t = np.float32(np.cos(angle)) * xx + np.float32(np.sin(angle)) * yy
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    return c0 + (c1 - c0) * t[..., None]


def _stripes(rng: np.random.Generator, height: int, width: int, c0: Color,
             c1: Color, period: float) -> FloatImage:
    """Sharp-edged sinusoidal stripes (height, width, 3) of ``c0``/``c1``
    at a random angle."""
    yy, xx = _grid(height, width)
    angle, shift = rng.uniform(0, np.pi), rng.uniform(0, 2 * np.pi)
    phase = (np.float32(np.cos(angle)) * xx + np.float32(np.sin(angle)) * yy)
    wave = np.sin(phase * np.float32(2 * np.pi / period) + np.float32(shift))
    t = np.clip(wave * 2.5 + 0.5, 0, 1)
    return c0 + (c1 - c0) * t[..., None]


def _smooth_noise(rng: np.random.Generator, height: int, width: int,
                  cell: int) -> np.ndarray:
    """Low-frequency noise (height, width) in [0, 1] with features of about
    ``cell`` pixels."""
    rows, cols = height // cell + 2, width // cell + 2
    coarse = Image.fromarray(rng.random((rows, cols), dtype=np.float32))
    fine = coarse.resize((cols * cell, rows * cell), Image.Resampling.BILINEAR)
    off = cell // 2
    return np.asarray(fine)[off:off + height, off:off + width]


def shape_polygon(kind: str, center: Sequence[float], radius: float,
                  angle: float) -> np.ndarray:
    """Vertices (N, 2) as (x, y) of a shape of circumradius ``radius``.

    ``kind`` is one of circle, square, triangle, star, cross, hexagon.
    """
    if kind == 'circle':
        theta = np.linspace(0, 2 * np.pi, 32, endpoint=False)
        rho = np.ones(32)
    elif kind in ('triangle', 'square', 'hexagon'):
        n = {'triangle': 3, 'square': 4, 'hexagon': 6}[kind]
        theta, rho = np.arange(n) * 2 * np.pi / n, np.ones(n)
    elif kind == 'star':
        theta = np.arange(10) * np.pi / 5
        rho = np.where(np.arange(10) % 2 == 0, 1.0, 0.45)
    elif kind == 'cross':
        a, b = 0.32, 0.95  # arm half-width and half-length
        unit = np.array([(a, b), (a, a), (b, a), (b, -a), (a, -a), (a, -b),
                         (-a, -b), (-a, -a), (-b, -a), (-b, a), (-a, a),
                         (-a, b)])
        theta = np.arctan2(unit[:, 1], unit[:, 0])
        rho = np.hypot(unit[:, 0], unit[:, 1])
    else:
        raise ValueError(f'unknown shape kind {kind!r}')
    theta = theta + angle
    points = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    return np.asarray(center, float) + radius * rho[:, None] * points


def polygon_alpha(polygon: np.ndarray,
                  height: int,
                  width: int,
                  supersample: int = 4) -> np.ndarray:
    """Anti-aliased coverage (height, width) in [0, 1] of an (N, 2)
    polygon in continuous (x, y) coordinates: pixel (i, j) spans
    [j, j + 1] x [i, i + 1]."""
    big = Image.new('L', (width * supersample, height * supersample), 0)
    scaled = polygon * supersample - 0.5
    ImageDraw.Draw(big).polygon([tuple(p) for p in scaled], fill=255)
    small = big.resize((width, height), Image.Resampling.BOX)
    return np.asarray(small, np.float32) / np.float32(255)


def _paint(image: FloatImage, polygon: np.ndarray,
           layer: Callable[[int, int], np.ndarray]) -> None:
    """Blend ``layer(h, w)`` (an (h, w, 3) fill or a (3, ) colour) into
    ``image`` in place where ``polygon`` covers it; only the polygon's
    bounding box is touched."""
    height, width = image.shape[:2]
    x0, y0 = np.floor(polygon.min(0)).astype(int).clip(0, [width, height])
    x1, y1 = np.ceil(polygon.max(0)).astype(int).clip(0, [width, height])
    if x1 <= x0 or y1 <= y0:
        return
    alpha = polygon_alpha(polygon - (x0, y0), y1 - y0, x1 - x0)[..., None]
    crop = image[y0:y1, x0:x1]
    crop += (layer(y1 - y0, x1 - x0) - crop) * alpha


def _finish(rng: np.random.Generator,
            image: FloatImage,
            noise: float = 3.0) -> np.ndarray:
    """Add sensor noise to a float image; return uint8 (H, W, 3)."""
    image = image + rng.standard_normal(image.shape, np.float32) * noise
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _plain_background(rng: np.random.Generator, size: int) -> FloatImage:
    """A low-saturation gradient (size, size, 3) at a random angle."""
    c0 = _hsv(rng.random(), rng.uniform(0, 0.25), rng.uniform(0.3, 0.9))
    c1 = _hsv(rng.random(), rng.uniform(0, 0.25), rng.uniform(0.3, 0.9))
    return _gradient(size, c0, c1, rng.uniform(0, 2 * np.pi))


def _object_fill(rng: np.random.Generator, color: Color,
                 striped: bool) -> Callable[[int, int], np.ndarray]:
    """The fill of an object: ``color`` with soft shading, or stripes of it
    and a darker shade."""
    period = rng.uniform(7, 12)

    def fill(height: int, width: int) -> FloatImage:
        if striped:
            return _stripes(rng, height, width, color, color * 0.45, period)
        shade = 0.8 + 0.4 * _smooth_noise(rng, height, width, 32)
        return color * shade[..., None]

    return fill


def _flat(color: Color) -> Callable[[int, int], np.ndarray]:
    return lambda h, w: color


# --------------------------------------------------------------- ImageNet
def imagenet_image(rng: np.random.Generator, label: int) -> np.ndarray:
    """One ImageNet-style image of class ``label``: uint8 (128, 128, 3).

    One object of the class's shape, hue and texture on a random gradient,
    with random position, scale, rotation and 0-2 small distractors.
    """
    size = IMAGENET_SIZE
    image = _plain_background(rng, size)
    for _ in range(rng.integers(0, 3)):
        polygon = shape_polygon(
            str(rng.choice(IMAGENET_SHAPES)), rng.uniform(8, size - 8, 2),
            rng.uniform(5, 10), rng.uniform(0, 2 * np.pi))
        color = _hsv(rng.random(), rng.uniform(0, 0.5), rng.uniform(0.3, 1))
        _paint(image, polygon, _flat(color))
    color = _hsv(label / len(IMAGENET_CLASSES) + rng.uniform(-0.025, 0.025),
                 rng.uniform(0.6, 0.95), rng.uniform(0.65, 0.95))
    fill = _object_fill(rng, color, striped=label >= 5)
    polygon = shape_polygon(IMAGENET_SHAPES[label % len(IMAGENET_SHAPES)],
                            rng.uniform(0.35, 0.65, 2) * size,
                            rng.uniform(0.22, 0.36) * size,
                            rng.uniform(0, 2 * np.pi))
    _paint(image, polygon, fill)
    return _finish(rng, image)


def _save_jpeg(image: np.ndarray, path: str) -> None:
    Image.fromarray(image).save(path, format='JPEG', quality=JPEG_QUALITY)


def _write_imagenet_split(root: str, split: str, seed: int) -> int:
    """Write ``<split>/<class>/*.JPEG`` and ``meta/<split>.txt``; return
    the number of images."""
    per_class, lines = IMAGENET_SPLITS[split], []
    for label, wnid in enumerate(IMAGENET_CLASSES):
        os.makedirs(osp.join(root, split, wnid))
        for i in range(per_class):
            index = label * per_class + i
            name = (f'{wnid}_{i:05d}.JPEG' if split == 'train' else
                    f'ILSVRC2012_val_{index + 1:08d}.JPEG')
            image = imagenet_image(_rng(seed, 'imagenet', split, index), label)
            _save_jpeg(image, osp.join(root, split, wnid, name))
            lines.append(f'{wnid}/{name} {label}\n')
    os.makedirs(osp.join(root, 'meta'), exist_ok=True)
    with open(osp.join(root, 'meta', f'{split}.txt'), 'w') as f:
        f.writelines(lines)
    return len(lines)


def _write_imagenet(root: str, seed: int) -> dict:
    counts = {s: _write_imagenet_split(root, s, seed) for s in IMAGENET_SPLITS}
    return {'classes': len(IMAGENET_CLASSES), 'images': counts}


# --------------------------------------------------------------- COCO
def _place_objects(rng: np.random.Generator,
                   count: int) -> List[Tuple[np.ndarray, float]]:
    """Up to ``count`` (centre, radius) whose circumcircles lie inside the
    image and do not overlap, so every instance is fully visible."""
    placed: List[Tuple[np.ndarray, float]] = []
    low, high = COCO_RADIUS
    for attempt in range(200):
        if len(placed) == count:
            break
        radius = rng.uniform(low, max(low, high - attempt * 0.2))
        center = rng.uniform(radius + 1, COCO_SIZE - radius - 1, 2)
        if all(np.hypot(*(center - c)) >= radius + r + 2 for c, r in placed):
            placed.append((center, radius))
    return placed


Instance = Tuple[int, np.ndarray]  # (category_id, polygon (N, 2))


def coco_image(rng: np.random.Generator,
               first_category: int) -> Tuple[np.ndarray, List[Instance]]:
    """One COCO-style image, uint8 (160, 160, 3), and its instances as
    (category_id, polygon (N, 2)); the first has ``first_category``."""
    size = COCO_SIZE
    if rng.random() < 0.5:
        image = _plain_background(rng, size)
    else:
        c0 = _hsv(rng.random(), rng.uniform(0, 0.2), rng.uniform(0.35, 0.85))
        image = _stripes(rng, size, size, c0, c0 * rng.uniform(0.75, 0.9),
                         rng.uniform(10, 24))
    count = int(rng.integers(COCO_OBJECTS[0], COCO_OBJECTS[1] + 1))
    instances = []
    for j, (center, radius) in enumerate(_place_objects(rng, count)):
        category = first_category if j == 0 else int(
            rng.integers(len(COCO_CLASSES))) + 1
        polygon = shape_polygon(COCO_CLASSES[category - 1], center, radius,
                                rng.uniform(0, 2 * np.pi))
        color = _hsv(rng.random(), rng.uniform(0.55, 0.95),
                     rng.uniform(0.55, 0.95))
        _paint(image, polygon,
               _object_fill(rng, color, striped=rng.random() < 0.3))
        instances.append((category, polygon))
    return _finish(rng, image), instances


def coco_annotation(polygon: np.ndarray, ann_id: int, image_id: int,
                    category_id: int) -> dict:
    """A COCO instance annotation whose bbox ([x, y, w, h]) and area are
    those of the (rounded) polygon."""
    points = np.round(polygon, 2)
    x, y = points[:, 0], points[:, 1]
    area = 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))
    x0, y0 = float(x.min()), float(y.min())
    width = round(float(x.max()) - x0, 2)
    height = round(float(y.max()) - y0, 2)
    segmentation = [[round(float(v), 2) for v in points.reshape(-1)]]
    return dict(
        id=ann_id,
        image_id=image_id,
        category_id=category_id,
        segmentation=segmentation,
        bbox=[x0, y0, width, height],
        area=round(float(area), 2),
        iscrowd=0)


def _write_coco_split(root: str, split: str, seed: int, first_image_id: int,
                      first_ann_id: int) -> Tuple[int, int]:
    """Write ``<split>/*.jpg`` and ``annotations/instances_<split>.json``;
    return the number of images and of annotations."""
    os.makedirs(osp.join(root, split))
    images, annotations = [], []
    for i in range(COCO_SPLITS[split]):
        image_id = first_image_id + i
        file_name = f'{image_id:012d}.jpg'
        image, instances = coco_image(
            _rng(seed, 'coco', split, i), i % len(COCO_CLASSES) + 1)
        _save_jpeg(image, osp.join(root, split, file_name))
        images.append({
            'id': image_id,
            'file_name': file_name,
            'height': COCO_SIZE,
            'width': COCO_SIZE
        })
        for category, polygon in instances:
            annotations.append(
                coco_annotation(polygon, first_ann_id + len(annotations),
                                image_id, category))
    categories = [{
        'id': k + 1,
        'name': name,
        'supercategory': 'shape'
    } for k, name in enumerate(COCO_CLASSES)]
    content = {
        'info': {
            'description': 'mixmim_plugin embedded COCO-style data',
            'version': str(GENERATOR_VERSION)
        },
        'licenses': [],
        'images': images,
        'annotations': annotations,
        'categories': categories,
    }
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    path = osp.join(root, 'annotations', f'instances_{split}.json')
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(content, f, sort_keys=True)
    return len(images), len(annotations)


def _write_coco(root: str, seed: int) -> dict:
    counts, image_id, ann_id = {}, 1, 1
    for split in COCO_SPLITS:
        n_images, n_anns = _write_coco_split(root, split, seed, image_id,
                                             ann_id)
        counts[split] = {'images': n_images, 'annotations': n_anns}
        image_id, ann_id = image_id + n_images, ann_id + n_anns
    return {'classes': len(COCO_CLASSES), 'splits': counts}


# --------------------------------------------------------------- ADE20K
def _sky(rng: np.random.Generator, size: int) -> FloatImage:
    """Blue vertical gradient, lighter at the horizon, with white clouds."""
    top = _hsv(
        rng.uniform(0.56, 0.62), rng.uniform(0.5, 0.8), rng.uniform(0.55, 0.8))
    sky = _gradient(size, top, _hsv(0.58, 0.2, 0.95), np.pi / 2)
    clouds = np.clip(_smooth_noise(rng, size, size, 24) * 3 - 1.8, 0, 1)
    return sky + (245 - sky) * clouds[..., None]


def _building(rng: np.random.Generator, size: int) -> FloatImage:
    """Grey-brown facade with a grid of dark windows."""
    yy, xx = _grid(size, size)
    period = rng.uniform(7, 11)
    windows = ((xx % period) < 0.55 * period) & ((yy % period) < 0.6 * period)
    color = _hsv(
        rng.uniform(0.03, 0.12), rng.uniform(0.05, 0.35),
        rng.uniform(0.45, 0.7))
    return color * (1 - 0.55 * windows)[..., None]


def _tree(rng: np.random.Generator, size: int) -> FloatImage:
    """Dark green foliage with blotchy shading."""
    color = _hsv(
        rng.uniform(0.27, 0.36), rng.uniform(0.5, 0.85),
        rng.uniform(0.25, 0.45))
    return color * (0.65 + 0.7 * _smooth_noise(rng, size, size, 5))[..., None]


def _grass(rng: np.random.Generator, size: int) -> FloatImage:
    """Light yellow-green with vertical blade streaks."""
    color = _hsv(
        rng.uniform(0.18, 0.24), rng.uniform(0.5, 0.8), rng.uniform(0.6, 0.8))
    streaks = 1 + 0.08 * rng.normal(0, 1, (1, size))
    return color * np.repeat(streaks, size, axis=0)[..., None]


def _wall(rng: np.random.Generator, size: int) -> FloatImage:
    """Pastel wallpaper with faint vertical stripes."""
    _, xx = _grid(size, size)
    color = _hsv(rng.random(), rng.uniform(0.08, 0.25), rng.uniform(0.7, 0.9))
    return color * (1 + 0.06 * np.sin(xx * 2 * np.pi / 12))[..., None]


def _floor(rng: np.random.Generator, size: int) -> FloatImage:
    """Brown wooden planks: horizontal bands of varying shade."""
    yy, _ = _grid(size, size)
    rows = (yy // rng.integers(6, 11)).astype(int)
    shade = rng.uniform(0.85, 1.15, size)[rows]
    shade = shade * (1 + 0.04 * rng.normal(0, 1, (size, 1)))
    color = _hsv(
        rng.uniform(0.06, 0.1), rng.uniform(0.45, 0.7), rng.uniform(0.4, 0.6))
    return color * shade[..., None]


def _ceiling(rng: np.random.Generator, size: int) -> FloatImage:
    """Near-white, darkening towards the back of the room."""
    return _gradient(size, _hsv(0.12, 0.05, 0.97),
                     _hsv(0.12, rng.uniform(0, 0.08), 0.82), np.pi / 2)


_ADE_TEXTURES = {
    _WALL: _wall,
    _BUILDING: _building,
    _SKY: _sky,
    _FLOOR: _floor,
    _TREE: _tree,
    _CEILING: _ceiling,
    _GRASS: _grass
}


def _outdoor_layout(rng: np.random.Generator, draw: ImageDraw.ImageDraw,
                    size: int) -> None:
    """Sky over grass, 1-3 buildings on the horizon, 1-3 trees in front."""
    horizon = int(size * rng.uniform(0.4, 0.6))
    draw.rectangle([0, 0, size, horizon], fill=_SKY)
    draw.rectangle([0, horizon, size, size], fill=_GRASS)
    for _ in range(rng.integers(1, 4)):
        x0, top = rng.integers(-10, size - 20), rng.integers(8, horizon - 8)
        x1, bottom = x0 + rng.integers(18, 45), horizon + rng.integers(2, 10)
        draw.rectangle([int(x0), int(top),
                        int(x1), int(bottom)],
                       fill=_BUILDING)
    for _ in range(rng.integers(1, 4)):
        cx, base = rng.uniform(0, size), horizon + rng.uniform(5, 30)
        rx, ry = rng.uniform(9, 18), rng.uniform(11, 22)
        cy = base - rng.uniform(8, 14) - ry
        draw.rectangle([cx - 2, cy, cx + 2, base], fill=_TREE)
        draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=_TREE)


def _indoor_layout(rng: np.random.Generator, draw: ImageDraw.ImageDraw,
                   size: int) -> None:
    """A room in one-point perspective: walls, ceiling and floor."""
    x0, x1 = size * rng.uniform(0.2, 0.35), size * rng.uniform(0.65, 0.8)
    y0, y1 = size * rng.uniform(0.15, 0.3), size * rng.uniform(0.55, 0.7)
    draw.rectangle([0, 0, size, size], fill=_WALL)
    draw.polygon([(0, 0), (size, 0), (x1, y0), (x0, y0)], fill=_CEILING)
    draw.polygon([(0, size), (size, size), (x1, y1), (x0, y1)], fill=_FLOOR)


def _other_objects(rng: np.random.Generator, draw: ImageDraw.ImageDraw,
                   colors: ImageDraw.ImageDraw, count: int, size: int) -> None:
    """``count`` flat-coloured blobs labelled 0 (ADE's 'other')."""
    for _ in range(count):
        x, y = rng.uniform(0, size - 12), rng.uniform(size * 0.45, size - 12)
        w, h = rng.uniform(8, 20, 2)
        rgb = _hsv(rng.random(), rng.uniform(0.5, 1), rng.uniform(0.3, 0.9))
        color = tuple(int(c) for c in rgb)
        shape = 'ellipse' if rng.random() < 0.5 else 'rectangle'
        for target, fill in ((draw, 0), (colors, color)):
            getattr(target, shape)([x, y, x + w, y + h], fill=fill)


def ade_sample(rng: np.random.Generator,
               indoor: bool) -> Tuple[np.ndarray, np.ndarray]:
    """One ADE-style scene: image uint8 (128, 128, 3) and label map uint8
    (128, 128) with values in ``{0} | ADE_CLASS_IDS``."""
    size = ADE_SIZE
    label_img = Image.new('L', (size, size), 0)
    color_img = Image.new('RGB', (size, size), (0, 0, 0))
    draw = ImageDraw.Draw(label_img)
    if indoor:
        _indoor_layout(rng, draw, size)
    else:
        _outdoor_layout(rng, draw, size)
    _other_objects(rng, draw, ImageDraw.Draw(color_img),
                   int(rng.integers(1 if indoor else 0, 3)), size)
    label = np.asarray(label_img).copy()
    image = np.asarray(color_img, np.float32).copy()
    for class_id, texture in _ADE_TEXTURES.items():
        region = label == class_id
        image[region] = texture(rng, size)[region]
    image *= rng.uniform(0.85, 1.1)
    return _finish(rng, image), label


def _write_ade_split(root: str, split: str, seed: int) -> int:
    """Write ``images/<split>/*.jpg`` and ``annotations/<split>/*.png``;
    return the number of pairs. Even indices are outdoor, odd indoor."""
    prefix = 'ADE_train' if split == 'training' else 'ADE_val'
    for sub in ('images', 'annotations'):
        os.makedirs(osp.join(root, sub, split))
    for i in range(ADE_SPLITS[split]):
        image, label = ade_sample(_rng(seed, 'ade', split, i), i % 2 == 1)
        name = f'{prefix}_{i + 1:08d}'
        _save_jpeg(image, osp.join(root, 'images', split, name + '.jpg'))
        Image.fromarray(label).save(
            osp.join(root, 'annotations', split, name + '.png'), format='PNG')
    return ADE_SPLITS[split]


def _write_ade(root: str, seed: int) -> dict:
    counts = {s: _write_ade_split(root, s, seed) for s in ADE_SPLITS}
    return {'class_ids': list(ADE_CLASS_IDS), 'images': counts}


# --------------------------------------------------------------- entry
def _generate(root: str, seed: int) -> dict:
    """Write all three datasets into the empty directory ``root``."""
    roots = embedded_roots(root)
    summary = {}
    for name, writer in (('imagenet', _write_imagenet), ('coco', _write_coco),
                         ('ade', _write_ade)):
        os.makedirs(roots[name])
        summary[name] = writer(roots[name], seed)
    return summary


def _check_target(root: str) -> None:
    """Refuse a ``root`` that is a file or a non-empty foreign directory."""
    if not osp.lexists(root):
        return
    if not osp.isdir(root):
        raise FileExistsError(
            f'{root} exists and is not a directory; embedded data needs a '
            'directory of its own')
    if read_stamp(root) is None and os.listdir(root):
        raise FileExistsError(
            f'{root} is a non-empty directory without {STAMP_NAME}, so it '
            'is not embedded data; refusing to overwrite it. Choose another '
            'directory or empty this one.')


def _install(built: str, root: str) -> None:
    """Move the complete ``built`` tree to ``root``, replacing an earlier
    generation (or an empty directory) there."""
    old = None
    if osp.isdir(root):
        if os.listdir(root):
            old = built + '.old'
            os.rename(root, old)
        else:
            os.rmdir(root)
    try:
        os.rename(built, root)
    except OSError:
        if old is not None and not osp.lexists(root):
            os.rename(old, root)
        raise
    if old is not None:
        shutil.rmtree(old)


def _build(root: str, seed: int) -> None:
    """Generate into a temporary sibling of ``root``, stamp it, then
    rename it into place; on any failure remove it and re-raise."""
    parent, name = osp.split(root)
    os.makedirs(parent, exist_ok=True)
    built = tempfile.mkdtemp(prefix=f'.{name}.tmp-', dir=parent)
    try:
        stamp = {
            'generator_version': GENERATOR_VERSION,
            'seed': seed,
            'datasets': _generate(built, seed)
        }
        with open(osp.join(built, STAMP_NAME), 'w', encoding='utf-8') as f:
            json.dump(stamp, f, sort_keys=True, indent=2)
        os.chmod(built, 0o755)  # mkdtemp makes it private
        _install(built, root)
    except BaseException:
        shutil.rmtree(built, ignore_errors=True)
        raise


def make_embedded_data(root: str,
                       seed: int = 0,
                       force: bool = False) -> Dict[str, str]:
    """Generate the embedded datasets under ``root`` (once) and return the
    dataset roots ``{'imagenet', 'coco', 'ade'}``.

    A stamp ``<root>/.embedded_data.json`` records the generator version and
    seed: a second call with the same ones returns at once. ``force=True``,
    another seed or another version regenerates. The data is built in a
    temporary sibling directory and renamed into place when complete, so an
    interrupted generation leaves nothing behind. A non-empty ``root`` that
    is not embedded data (no stamp) is never overwritten, even with
    ``force``: :class:`FileExistsError` is raised.

    Args:
        root: the directory to hold the datasets.
        seed: a non-negative int; the data is a function of it alone.
        force: regenerate even if ``root`` is up to date.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) \
            or seed < 0:
        raise ValueError(f'seed must be a non-negative int, got {seed!r}')
    seed = int(seed)
    roots = embedded_roots(root)
    root = osp.dirname(roots['imagenet'])
    _check_target(root)
    if force or not is_generated(root, seed):
        _build(osp.realpath(root), seed)  # through a symlinked root
    return roots
