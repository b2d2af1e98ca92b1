"""tools/visualization/visualize_pretrain.py and the MAE / DropPos
pictures."""
import os.path as osp
import shutil

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from PIL import Image

from mixmim_plugin.registry import MODELS
from mixmim_tools.cli import visualize_pretrain
from mixmim_tools.visualization import droppos_predict, mae_reconstruct
from mixmim_tools.visualization.droppos import (GREEN, RED, draw_layout,
                                                draw_right_wrong)
from mixmim_tools.visualization.pretrain import eval_pipeline

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = {
    'mixmim': 'configs/mixmim/mixmim-tiny_1xb32_20e_embedded.py',
    'mae': 'configs/mae/mae-tiny_1xb32_20e_embedded.py',
    'droppos': 'configs/droppos/droppos-tiny_1xb32_20e_embedded.py',
    'droppos-mixmim':
    'configs/droppos/droppos-mixmim-tiny_1xb32_20e_embedded.py',
    'moby': 'configs/moby/moby-swin-nano_1xb32_30e_embedded.py',
}
PANEL, PAD, TITLE = 128, 4, 16


def build(method: str):
    cfg = Config.fromfile(osp.join(ROOT, CONFIGS[method]))
    cfg.model.data_preprocessor = cfg.data_preprocessor
    with DefaultScope.overwrite_default_scope('mixmim_plugin'):
        return MODELS.build(cfg.model).eval()


@pytest.fixture(scope='module')
def images(tmp_path_factory, embedded_data):
    """Six validation images of two classes, in a folder of their own."""
    folder = tmp_path_factory.mktemp('images')
    val = osp.join(embedded_data['imagenet'], 'val')
    with open(osp.join(embedded_data['imagenet'], 'meta', 'val.txt')) as f:
        names = [line.split()[0] for line in f][:6]
    for name in names:
        shutil.copy(osp.join(val, name), folder / osp.basename(name))
    return str(folder)


@pytest.fixture(scope='module')
def checkpoints(tmp_path_factory):
    """A randomly initialised plugin checkpoint per method."""
    folder = tmp_path_factory.mktemp('checkpoints')
    paths = {}
    for method in CONFIGS:
        torch.manual_seed(0)
        paths[method] = str(folder / f'{method}.pth')
        torch.save({'state_dict': build(method).state_dict()}, paths[method])
    return paths


def run(tool, method, checkpoint, images, out, *extra):
    return tool.main([
        osp.join(ROOT, CONFIGS[method]), checkpoint, images, '--out-dir',
        str(out), *extra
    ])


@pytest.mark.parametrize('method,num,name,rows,cols', [
    ('mixmim', 5, 'mixmim_reconstruction', 2, 6),
    ('mae', 3, 'mae_reconstruction', 3, 4),
    ('droppos', 3, 'droppos_positions', 3, 4),
    ('droppos-mixmim', 2, 'droppos_positions', 2, 4),
])
def test_tool_draws_each_method(tmp_path, images, checkpoints, method, num,
                                name, rows, cols):
    tool = visualize_pretrain
    assert run(tool, method, checkpoints[method], images, tmp_path,
               '--num-images', str(num)) == 0
    png = np.asarray(Image.open(tmp_path / f'{name}.png'))
    assert png.shape[1] == cols * (PANEL + PAD) + PAD
    grid_height = TITLE + rows * (PANEL + PAD) + PAD
    if method.startswith('droppos'):
        assert png.shape[0] > grid_height  # the legend under the grid
    else:
        assert png.shape[0] == grid_height
    assert png.std() > 10


def test_masks_follow_the_seed(tmp_path, images, checkpoints):
    tool = visualize_pretrain
    pictures = []
    for seed, out in (('0', 'a'), ('0', 'b'), ('1', 'c')):
        assert run(tool, 'mae', checkpoints['mae'], images, tmp_path / out,
                   '--seed', seed, '--num-images', '2') == 0
        pictures.append(
            np.asarray(Image.open(tmp_path / out / 'mae_reconstruction.png')))
    assert np.array_equal(pictures[0], pictures[1])
    assert not np.array_equal(pictures[0], pictures[2])


def test_tool_says_what_is_wrong(tmp_path, images, checkpoints, capsys):
    tool = visualize_pretrain
    missing_config = tmp_path / 'nope.py'
    assert tool.main([str(missing_config), checkpoints['mae'], images]) == 2
    assert 'cannot read the config' in capsys.readouterr().err

    unknown = tmp_path / 'unknown.py'
    unknown.write_text("model = dict(type='NoSuchPretrainer')\n")
    assert tool.main([str(unknown), checkpoints['mae'], images]) == 2
    assert 'cannot build the model' in capsys.readouterr().err

    assert run(tool, 'moby', checkpoints['moby'], images, tmp_path) == 2
    assert 'no picture for MoBY' in capsys.readouterr().err

    state = torch.load(checkpoints['mae'], map_location='cpu')['state_dict']
    broken = dict(state)
    del broken['neck.mask_token']
    broken['neck.extra'] = torch.zeros(1)
    bad = tmp_path / 'bad.pth'
    torch.save({'state_dict': broken}, bad)
    assert run(tool, 'mae', str(bad), images, tmp_path) == 3
    err = capsys.readouterr().err
    assert "1 missing keys ['neck.mask_token']" in err
    assert "1 unexpected keys ['neck.extra']" in err

    assert run(tool, 'mae', checkpoints['droppos'], images, tmp_path) == 3
    assert 'backbone.mask_pos_token' in capsys.readouterr().err
    state = torch.load(checkpoints['mixmim'], map_location='cpu')
    state['state_dict']['neck.decoder_pred.bias'] = torch.zeros(5)
    torch.save(state, bad)
    assert run(tool, 'mixmim', str(bad), images, tmp_path) == 3
    err = capsys.readouterr().err
    assert 'does not fit MixMIMPretrainer' in err
    assert 'size mismatch for neck.decoder_pred.bias' in err
    assert run(tool, 'mae', str(tmp_path / 'none.pth'), images, tmp_path) == 3
    assert 'checkpoint not found' in capsys.readouterr().err

    empty = tmp_path / 'empty'
    empty.mkdir()
    (empty / 'notes.txt').write_text('no pictures here')
    assert run(tool, 'mae', checkpoints['mae'], str(empty), tmp_path) == 4
    assert 'no images' in capsys.readouterr().err
    assert run(tool, 'mixmim', checkpoints['mixmim'], images, tmp_path,
               '--num-images', '1') == 4
    assert 'pairs' in capsys.readouterr().err
    assert not list(tmp_path.glob('*.png'))


def test_eval_pipeline_is_deterministic():
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(
            type='RandomResizedCrop',
            scale=(96, 128),
            backend='pillow',
            interpolation='bicubic'),
        dict(type='RandomFlip', prob=0.5),
        dict(type='DropPositionMask', patch_size=16),
        dict(type='PackInputs', algorithm_keys=['patch_mask', 'pos_mask']),
    ]
    assert eval_pipeline(pipeline) == [
        dict(type='LoadImageFromFile'),
        dict(
            type='Resize',
            scale=(128, 96),
            interpolation='bicubic',
            backend='pillow'),
        dict(type='DropPositionMask', patch_size=16),
        dict(type='PackInputs', algorithm_keys=['patch_mask', 'pos_mask']),
    ]


def test_mae_reconstruction_of_a_perfect_decoder():
    """With a decoder that predicts the norm-pix target exactly, the
    reconstruction is the input: the de-normalization and the patch order
    are right."""
    model = build('mae')
    inputs = torch.randn(2, 3, 128, 128)
    model.neck.forward = lambda latent, ids: model.head.construct_target(inputs
                                                                         )
    torch.manual_seed(0)
    out = mae_reconstruct(model, inputs)
    torch.testing.assert_close(out['pred'], inputs, rtol=1e-4, atol=1e-4)
    removed = out['mask'].float().mean((1, 2, 3))
    torch.testing.assert_close(removed, torch.full((2, ), 0.75))


@pytest.mark.parametrize('method', ['droppos', 'droppos-mixmim'])
def test_droppos_predictions_are_scored_where_positions_were_dropped(method):
    model = build(method)
    grid = model.head.grid
    B, L = 2, grid[0] * grid[1]
    g = torch.Generator().manual_seed(0)
    patch_mask = torch.zeros(B, L, dtype=torch.bool)
    pos_mask = torch.zeros(B, L, dtype=torch.bool)
    visible = L // 4
    for b in range(B):
        order = torch.randperm(L, generator=g)
        patch_mask[b, order[visible:]] = True
        pos_mask[b, order[:visible - 1]] = True  # one keeps its position
    out = droppos_predict(model, torch.randn(B, 3, 128, 128),
                          patch_mask.view(B, *grid), pos_mask.view(B, *grid))
    assert out['positions'].shape == (B, visible)
    for b in range(B):
        assert set(out['positions'][b].tolist()) == set(
            (~patch_mask[b]).nonzero().flatten().tolist())
        assert int(out['counted'][b].sum()) == visible - 1
        assert not pos_mask[b, out['positions'][b][~out['counted'][b]]].any()
    assert ((out['predicted'] >= 0) & (out['predicted'] < L)).all()


def cells(grid=(4, 4), side=64):
    """An image whose 16-pixel cells have distinct colours."""
    image = np.zeros((side, side, 3), np.uint8)
    step = side // grid[0]
    for k in range(grid[0] * grid[1]):
        r, c = divmod(k, grid[1])
        image[r * step:(r + 1) * step,
              c * step:(c + 1) * step] = (10 * k, 255 - 10 * k, 100)
    return image


def test_right_wrong_and_layout_drawings():
    image, grid = cells(), (4, 4)
    removed = np.zeros(16, bool)
    removed[[3, 7]] = True
    true = np.array([0, 5, 10, 12])
    pred = np.array([0, 5, 15, 12])  # 10 predicted at 15
    counted = np.array([True, True, True, False])
    drawn = draw_right_wrong(image, grid, removed, true, pred, counted)
    assert tuple(drawn[0, 8]) == GREEN  # frame of position 0: right
    assert tuple(drawn[32, 40]) == RED  # frame of position 10: wrong
    assert tuple(drawn[16, 24]) == GREEN  # frame of position 5: right
    assert tuple(drawn[60, 4]) != GREEN  # 12 kept its position: no frame
    # the arrow from 10 to 15 ends inside cell 15
    assert (drawn[48:64, 48:64] == RED).all(-1).any()
    layout = draw_layout(image, grid, true, pred, counted)
    assert np.array_equal(layout[52:60, 52:60], image[36:44, 36:44])
    assert np.array_equal(layout[20:28, 20:28], image[20:28, 20:28])  # 5
    assert np.array_equal(layout[52:60, 4:12], image[52:60, 4:12])  # 12
    assert (layout[4:12, 20:28] == 127).all()  # 1 is not visible
    assert (layout[36:44, 36:44] == 127).all()  # nothing lands on 10
