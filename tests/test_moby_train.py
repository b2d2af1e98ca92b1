"""A few MoBY iterations with the embedded config in an mmengine Runner
(bf16 autocast on the CPU), then the checkpoint's online encoder in a
linear-evaluation classifier and in the feature evaluation."""
import glob
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from mixmim_plugin.models import moby_momentum
from mixmim_plugin.registry import MODELS
from mixmim_tools.evaluation import extract_features, image_folder_dataset

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(ROOT, 'configs', 'moby',
                  'moby-swin-nano_1xb32_30e_embedded.py')
IMAGES, BATCH, QUEUE = 24, 8, 20


@pytest.mark.slow
def test_moby_trains_on_embedded_data(embedded_data, tmp_path):
    cfg = Config.fromfile(CONFIG)
    cfg.work_dir = str(tmp_path)
    cfg.launcher = 'none'
    cfg.train_dataloader.update(
        batch_size=BATCH, num_workers=0, persistent_workers=False)
    cfg.train_dataloader.dataset.update(
        data_root=embedded_data['imagenet'] + '/', indices=IMAGES)
    cfg.train_cfg.max_epochs = 1
    cfg.model.queue_len = QUEUE
    cfg.default_hooks.logger.interval = 1
    runner = Runner.from_cfg(cfg)
    model = runner.model
    initial = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    runner.train()

    iters = IMAGES // BATCH
    log = glob.glob(osp.join(str(tmp_path), '*', 'vis_data',
                             'scalars.json'))[0]
    with open(log) as f:
        records = [json.loads(line) for line in f]
    losses = [r['loss'] for r in records if 'loss' in r]
    assert len(losses) == iters and all(0 < x < 20 for x in losses)
    assert [r['momentum'] for r in records
            if 'momentum' in r] == pytest.approx(
                [moby_momentum(k, iters, 0.99) for k in range(iters)])
    assert int(model.queue_ptr) == IMAGES % QUEUE
    assert int(model.target.steps) == iters
    changed = [
        not torch.equal(v, initial[k])
        for k, v in model.backbone.state_dict().items()
    ]
    assert any(changed)
    checkpoint = torch.load(
        osp.join(str(tmp_path), 'epoch_1.pth'), weights_only=False)
    # the momentum step counter and the queues resume with the model
    assert int(checkpoint['state_dict']['target.steps']) == iters
    assert torch.equal(checkpoint['state_dict']['queues'], model.queues)

    # the linear-evaluation classifier loads the online encoder
    backbone = dict(cfg.model.backbone)
    backbone['init_cfg'] = dict(
        type='Pretrained',
        checkpoint=osp.join(str(tmp_path), 'epoch_1.pth'),
        prefix='backbone.')
    classifier_cfg = dict(
        type='ImageClassifier',
        backbone=dict(backbone, frozen_stages=2),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(
            type='LinearClsHead',
            num_classes=10,
            in_channels=128,
            loss=dict(type='CrossEntropyLoss')))
    with DefaultScope.overwrite_default_scope('mixmim_plugin'):
        classifier = MODELS.build(classifier_cfg)
    classifier.init_weights()
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(classifier.backbone.state_dict()[key], value), key

    # and its pooled features feed the k-NN / linear-probe evaluation
    val = image_folder_dataset(
        osp.join(embedded_data['imagenet'], 'val'), img_size=64)
    features, labels = extract_features(classifier.backbone, val)
    assert features.shape == (len(val), 128)
    assert torch.isfinite(features).all()
    assert labels.shape == (len(val), )
