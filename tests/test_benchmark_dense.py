"""The benchmark on detection and segmentation configs: the task rules
(synthetic annotations, the input size) on the toolboxes' real configs, and
the tool measuring a plugin config beside a toolbox one."""
import csv

import numpy as np
import pytest

from mixmim_tools.benchmark import tasks
from mixmim_tools.benchmark.contenders import BenchmarkError
from mixmim_tools.cli import benchmark_models
from mixmim_tools.configs import load_config, plugin_config, train_pipeline

DET_TINY = plugin_config(
    'mixmim/benchmarks/mask-rcnn_mixmim-tiny_fpn_1xb4-1e_embedded.py')
SEG_TINY = plugin_config(
    'mixmim/benchmarks/upernet_mixmim-tiny_1xb4-20i_embedded.py')
MMDET_MASK_RCNN = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
MMDET_MS_CROP = ('mmdet::convnext/'
                 'mask-rcnn_convnext-t-p4-w7_fpn_amp-ms-crop-3x_coco.py')
MMSEG_UPERNET = 'mmseg::upernet/upernet_r50_4xb4-160k_ade20k-512x512.py'
MMSEG_CONVNEXT = ('mmseg::convnext/'
                  'convnext-base_upernet_8xb2-amp-160k_ade20k-512x512.py')
# mmseg 1.x ships this one without a data-preprocessor size: it cannot train
MMSEG_NO_SIZE = 'mmseg::upernet/upernet_r18_4xb4-80k_ade20k-512x512.py'


def test_task_is_read_off_the_pipeline():
    assert tasks.task_of(train_pipeline(
        load_config(DET_TINY))) == tasks.DETECTION
    assert tasks.task_of(train_pipeline(
        load_config(SEG_TINY))) == tasks.SEGMENTATION
    assert tasks.task_of([dict(type='mmpretrain.PackInputs')
                          ]) == tasks.PRETRAINING
    assert tasks.num_classes(load_config(MMDET_MASK_RCNN).model) == 80
    assert tasks.num_classes(load_config(SEG_TINY).model) == 150
    assert tasks.num_classes(dict(a=[dict(b=1)])) is None


def test_detection_resizes_become_one_resize_to_the_test_scale():
    cfg = load_config(MMDET_MS_CROP)
    pipeline = train_pipeline(cfg)
    note = tasks.set_detection_scale(cfg, pipeline, None)
    assert [tasks.type_name(t) for t in pipeline] == [
        'LoadImageFromFile', 'LoadAnnotations', 'RandomFlip', 'Resize',
        'PackDetInputs'
    ]
    assert pipeline[3] == dict(
        type='Resize', scale=(1333, 800), keep_ratio=True)
    assert 'RandomChoice' in note and 'shorter side 800' in note
    # --img-size: the shorter side, the longer limit scaled alike ...
    cfg = load_config(MMDET_MASK_RCNN)
    pipeline = train_pipeline(cfg)
    tasks.set_detection_scale(cfg, pipeline, 320)
    assert pipeline[2]['scale'] == (533, 320)
    # ... and raised where a square test scale would cap the 4:3 image
    cfg = load_config(DET_TINY)
    pipeline = train_pipeline(cfg)
    tasks.set_detection_scale(cfg, pipeline, 120)
    assert pipeline[2]['scale'] == (160, 120)
    with pytest.raises(ValueError, match='no resize in the train pipeline'):
        tasks.set_detection_scale(cfg, [dict(type='PackDetInputs')], 64)


def test_segmentation_crop_size_moves_everything_tied_to_it():
    cfg = load_config(MMSEG_CONVNEXT)
    pipeline = train_pipeline(cfg)
    assert tasks.set_crop_size(cfg, pipeline, 256) == 'crop 512x512 -> 256x256'
    by_type = {tasks.type_name(t): t for t in pipeline}
    assert by_type['RandomCrop']['crop_size'] == (256, 256)
    assert by_type['RandomResize']['scale'] == (1024, 256)
    assert cfg.model.data_preprocessor['size'] == (256, 256)
    assert cfg.model.test_cfg['crop_size'] == (256, 256)
    assert cfg.model.test_cfg['stride'] == (170, 170)
    cfg = load_config(SEG_TINY)  # the backbone's img_size follows the crop
    tasks.set_crop_size(cfg, train_pipeline(cfg), 64)
    assert cfg.model.backbone.img_size == 64
    with pytest.raises(ValueError, match='no RandomCrop crop_size'):
        tasks.set_crop_size(cfg, [dict(type='PackSegInputs')], 64)


def test_synthetic_annotations_are_what_loading_gives():
    rng = np.random.default_rng(0)
    det = tasks.detection_sample(rng, 3, 0, 80)
    boxes = det['gt_bboxes'].numpy()
    masks = det['gt_masks'].masks
    assert det['img'].shape == tasks.DET_SOURCE + (3, )
    assert masks.shape == (len(boxes), ) + tasks.DET_SOURCE
    for box, mask in zip(boxes, masks):  # each mask fills its box
        ys, xs = np.nonzero(mask)
        assert box[0] <= xs.min() and xs.max() <= box[2]
        assert box[1] <= ys.min() and ys.max() <= box[3]
        assert mask.sum() > 0.5 * (box[2] - box[0]) * (box[3] - box[1])
    assert ((det['gt_bboxes_labels'] >= 0) &
            (det['gt_bboxes_labels'] < 80)).all()
    seg = tasks.segmentation_sample(rng, 0, 0, 150)
    assert seg['gt_seg_map'].shape == tasks.SEG_SOURCE
    assert seg['gt_seg_map'].max() < 150 and seg['seg_fields'] == [
        'gt_seg_map'
    ]
    assert len(np.unique(seg['gt_seg_map'])) > 1


def test_a_failing_precision_drops_only_that_precision(monkeypatch, capsys):
    """A model whose bf16 step fails (mmcv's CPU NMS has no bf16 kernel) is
    still measured in fp32; the failure is named."""

    def try_steps(contender, precisions, device):
        if precisions == ['bf16']:
            raise BenchmarkError(contender.config, 'run a bf16 training step',
                                 'RuntimeError: no bf16 kernel')

    monkeypatch.setattr(benchmark_models, 'try_steps', try_steps)
    monkeypatch.setattr(
        benchmark_models, 'build_contender',
        lambda config, *args: type('C', (), {
            'precisions': [],
            'config': config
        })())
    args = benchmark_models.parse_args(
        [DET_TINY, '--precisions', 'fp32', 'bf16'])
    contenders, errors = benchmark_models.build_all(args)
    assert [c.precisions for c in contenders] == [['fp32']]
    assert [e.stage for e in errors] == ['run a bf16 training step']
    assert 'cannot run a bf16 training step: RuntimeError' in (
        capsys.readouterr().err)


def _rows(out):
    with open(out / 'benchmark.csv') as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_detection_plugin_beside_mmdet(tmp_path):
    out = tmp_path / 'det'
    code = benchmark_models.main([
        DET_TINY, MMDET_MASK_RCNN, '--names', 'plugin', 'mmdet', '--img-size',
        '64', '--batch', '2', '--iters', '1', '--warmup', '0', '--precisions',
        'fp32', '--out-dir',
        str(out)
    ])
    assert code == 0
    rows = _rows(out)
    assert [r['model'] for r in rows] == ['plugin', 'mmdet']
    for row in rows:
        assert row['task'] == 'detection' and row['flops_of'] == 'tensor'
        # shorter side 64, the longer padded to the 32-pixel divisor
        assert row['input'] == '64x96'
        for key in ('images_per_s', 'infer_images_per_s', 'fwd_gflops',
                    'params_m', 'state_mib', 'peak_mib'):
            assert float(row[key]) > 0, key
    # mmdet's R50 Mask R-CNN: 44.4M parameters as in its model zoo
    assert abs(float(rows[1]['params_m']) - 44.4) < 0.1
    table = (out / 'benchmark.md').read_text()
    assert 'train resizes (Resize) -> Resize to shorter side 64' in table
    assert (out / 'benchmark.png').read_bytes()[:4] == b'\x89PNG'


@pytest.mark.slow
def test_segmentation_plugin_beside_mmseg_and_a_broken_config(
        tmp_path, capsys):
    out = tmp_path / 'seg'
    code = benchmark_models.main([
        SEG_TINY, MMSEG_UPERNET, MMSEG_NO_SIZE, '--img-size', '64', '--batch',
        '2', '--iters', '1', '--warmup', '0', '--precisions', 'fp32',
        '--out-dir',
        str(out)
    ])
    err = capsys.readouterr().err
    assert code == 1
    assert (f'{MMSEG_NO_SIZE}: cannot form an input batch: AssertionError: '
            'only one of size and size_divisor') in err
    rows = _rows(out)
    assert [r['model'] for r in rows] == [
        'upernet_mixmim-tiny_1xb4-20i_embedded',
        'mmseg:upernet_r50_4xb4-160k_ade20k-512x512'
    ]
    for row in rows:
        assert row['task'] == 'segmentation' and row['input'] == '64x64'
        assert float(row['infer_images_per_s']) > 0
        assert float(row['images_per_s']) > 0
