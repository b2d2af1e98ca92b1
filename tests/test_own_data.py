"""README "Your own data": its commands, exactly as written there, run on
the embedded data (whose 4 COCO categories are not COCO's 80, and whose 10
classes are not ImageNet's 1000).

The commands come from the README itself, so the documented key sets and
the tested ones cannot drift apart. The test only appends the matrix's size
overrides (batch size, sample count, run length, input scale:
config_matrix.size_options) and a work dir; the first command pretrains the
checkpoint the others start from.
"""
import os.path as osp
import re
import shlex
import sys

import pytest
from config_matrix import ROOT, last_checkpoint, load, run, size_options

from mixmim_tools.transfer import coco_classes

BLOCK = re.compile(r'<!-- own-data:begin -->\s*```bash\n(.*?)```', re.S)


def split_commands(text: str):
    """Split the joined block at each command's first word."""
    return [
        c.strip() for c in re.split(r'(?=\b(?:python|mim) )', text)
        if c.strip()
    ]


def imagenet_classes(root: str) -> int:
    with open(osp.join(root, 'meta', 'train.txt')) as f:
        return 1 + max(int(line.split()[1]) for line in f if line.strip())


def config_of(command: str) -> str:
    words = shlex.split(command)
    return next(w for w in words if w.startswith('configs/'))


@pytest.mark.slow
def test_readme_own_data_commands_run(embedded_data, tmp_path):
    with open(osp.join(ROOT, 'README.md')) as f:
        block = BLOCK.search(f.read())
    assert block, 'README.md has no own-data block'
    text = ' '.join(
        line for line in block.group(1).replace('\\\n', ' ').splitlines()
        if line.strip() and not line.lstrip().startswith('#'))
    commands = split_commands(text)
    assert [config_of(c).split('/')[-1] for c in commands] == [
        'mixmim-b_8xb128_600e.py', 'mixmim-b_8xb128-ft-100e_in1k.py',
        'mask-rcnn_mixmim-b_fpn_8xb2-1x_coco.py',
        'upernet_mixmim-b_8xb2-160k_ade20k-512x512.py'
    ]
    env = dict(
        IMAGENET=embedded_data['imagenet'],
        COCO=embedded_data['coco'],
        ADE=embedded_data['ade'],
        CLASSES='(' + ','.join(coco_classes(embedded_data['coco'])) + ')',
    )
    for i, command in enumerate(commands):
        config = config_of(command)
        work_dir = tmp_path / f'run{i}'
        env['N'] = str(
            len(coco_classes(embedded_data['coco'])) if 'coco' in
            config else imagenet_classes(embedded_data['imagenet']))
        extra = ' '.join(shlex.quote(o) for o in size_options(load(config)))
        line = (
            command.replace('python tools/', f'{sys.executable} tools/', 1) +
            f' {extra} --work-dir {work_dir}')
        code, out = run(['bash', '-c', line], env)
        assert code == 0, f'{command}\n{out[-5000:]}'
        assert 'loss:' in out
        if i == 0:
            env['CKPT'] = last_checkpoint(str(work_dir))
        else:
            assert '(val)' in out, out[-3000:]
