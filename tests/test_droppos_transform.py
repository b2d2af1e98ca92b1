"""DropPos's mask transform: exact counts, the rounding rule, packing, and
errors that name the bad value."""
import numpy as np
import pytest
from mmcv.transforms import Compose
from mmengine.registry import DefaultScope

from mixmim_plugin.datasets import DropPositionMask, droppos_counts
from mixmim_plugin.registry import TRANSFORMS


@pytest.mark.parametrize(
    'num, mask_ratio, pos_mask_ratio, expected',
    [
        (196, 0.75, 0.75, (49, 12)),  # ViT at 224: 37 positions dropped
        (64, 0.75, 0.75, (16, 4)),  # the embedded 128x128 configs
        (49, 0.5, 0.75, (24, 6)),  # hierarchical, 32-pixel units at 224
        (196, 0.0, 0.75, (196, 49)),  # no patch masking
        (49, 0.75, 0.75, (12, 3)),  # floor(12.25) = 12, then floor(3.0)
        (10, 0.9, 0.5, (1, 0)),  # 10 * (1 - 0.9) = 0.99999... counts as 1
        (10, 0.7, 0.1, (3, 2)),  # floor(3 * 0.9) = floor(2.7) = 2
    ])
def test_counts_follow_the_floor_rule(num, mask_ratio, pos_mask_ratio,
                                      expected):
    assert droppos_counts(num, mask_ratio, pos_mask_ratio) == expected


def _draw(transform, size):
    return transform(dict(img=np.zeros((*size, 3), dtype=np.uint8)))


def test_masks_have_exact_counts_at_224():
    transform = DropPositionMask(input_size=224)
    for _ in range(5):
        out = _draw(transform, (224, 224))
        patch_mask, pos_mask = out['patch_mask'], out['pos_mask']
        assert patch_mask.shape == pos_mask.shape == (14, 14)
        assert patch_mask.dtype == pos_mask.dtype == bool
        assert (~patch_mask).sum() == 49
        assert pos_mask.sum() == 49 - 12
        assert not (pos_mask & patch_mask).any()


def test_masks_are_random_per_sample():
    np.random.seed(0)
    transform = DropPositionMask(patch_size=16)
    first, second = _draw(transform, (64, 64)), _draw(transform, (64, 64))
    assert (first['patch_mask'] != second['patch_mask']).any()


def test_non_square_images_get_a_matching_grid():
    out = _draw(DropPositionMask(patch_size=32), (64, 128))
    assert out['patch_mask'].shape == (2, 4)
    assert (~out['patch_mask']).sum() == 2 and out['pos_mask'].sum() == 2


def test_pipeline_packs_both_masks():
    with DefaultScope.overwrite_default_scope('mixmim_plugin'):
        pipeline = Compose([
            TRANSFORMS.build(
                dict(type='DropPositionMask', patch_size=16, input_size=64)),
            TRANSFORMS.build(
                dict(
                    type='PackInputs',
                    algorithm_keys=['patch_mask', 'pos_mask']))
        ])
    packed = pipeline(dict(img=np.zeros((64, 64, 3), dtype=np.uint8)))
    sample = packed['data_samples']
    assert sample.patch_mask.shape == sample.pos_mask.shape == (4, 4)
    assert (~sample.patch_mask).sum() == 4 and sample.pos_mask.sum() == 3


@pytest.mark.parametrize('kwargs, message', [
    (dict(mask_ratio=1.0), r'mask_ratio must be in \[0, 1\), got 1.0'),
    (dict(mask_ratio=-0.1), r'mask_ratio must be in \[0, 1\), got -0.1'),
    (dict(pos_mask_ratio=1.5), r'pos_mask_ratio must be in \[0, 1\), got 1.5'),
    (dict(patch_size=0), 'patch_size must be a positive int, got 0'),
    (dict(patch_size=16.0), 'patch_size must be a positive int, got 16.0'),
    (dict(input_size=100), 'image size 100x100 is not a multiple of '
     'patch_size 16'),
    (dict(input_size=64, mask_ratio=0.95),
     '4x4 patch grid: mask_ratio 0.95 leaves no visible patch of 16'),
    (dict(input_size=64, pos_mask_ratio=0.0),
     'pos_mask_ratio 0.0 drops no position among the 4 visible'),
])
def test_bad_arguments_name_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DropPositionMask(**kwargs)


def test_bad_images_name_the_size():
    with pytest.raises(ValueError, match='image size 48x40 is not a multiple'):
        _draw(DropPositionMask(patch_size=16), (48, 40))
    with pytest.raises(
            ValueError, match='image is 96x96, expected '
            'input_size 64x64'):
        _draw(DropPositionMask(patch_size=16, input_size=64), (96, 96))
    with pytest.raises(
            ValueError,
            match='1x1 patch grid: mask_ratio 0.5 '
            'leaves no visible patch of 1'):
        _draw(DropPositionMask(patch_size=32, mask_ratio=0.5), (32, 32))
    with pytest.raises(
            ValueError,
            match='2x2 patch grid: pos_mask_ratio 0.0 '
            'drops no position among the 1 visible'):
        _draw(DropPositionMask(patch_size=16, pos_mask_ratio=0.0), (32, 32))
