"""The README's main job, shortened to two epochs."""
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.mark.slow
def test_demo_trains_and_draws(tmp_path, embedded_data):
    data = osp.dirname(embedded_data['imagenet'])
    work = tmp_path / 'demo'
    done = subprocess.run([
        sys.executable, 'tools/demo.py', '--data', data, '--work-dir',
        str(work), '--epochs', '2', '--num-pairs', '2'
    ],
                          cwd=ROOT,
                          capture_output=True,
                          text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert 'mean loss per epoch: first' in done.stdout
    assert osp.isfile(work / 'epoch_2.pth')
    png = np.asarray(Image.open(work / 'mixmim_reconstruction.png'))
    # two rows of six 128x128 panels plus padding and the title band
    assert png.shape[0] > 2 * 128 and png.shape[1] > 6 * 128
    assert png.std() > 10  # an actual picture, not a blank canvas
