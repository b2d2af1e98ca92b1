"""MixMIM's training forward under ``torch.compile(fullgraph=True)``: one
graph without a break (tiny and B, per-pair and per-batch masks, masked
attention and mix embedding), the eager loss and gradients, and the
configs' ``compile`` key through mmengine's Runner."""
from typing import Optional

import numpy as np
import pytest
import torch
from torch._dynamo.testing import CompileCounter

from mixmim_plugin.datasets.transforms import MixMaskGenerator
from mixmim_tools.configs import build_model, load_config, plugin_config

CONFIGS = {
    'tiny': 'mixmim/mixmim-tiny_1xb32_20e_embedded.py',
    'b': 'mixmim/mixmim-b_8xb128_600e.py',
    'swin-tiny': 'mixmim/mixmim-swin-tiny_1xb32_20e_embedded.py',
}
# the mix-embedding variant (mixmim-b-mixembed_8xb128_600e.py's override)
MIX_EMBED = dict(masked_attn=False, mix_embed=True)


def model_and_batch(name: str,
                    mask_mode: str = 'per_pair',
                    batch: int = 2,
                    backbone: Optional[dict] = None):
    """A config's MixMIM model (train mode; ``backbone`` overrides), (B, 3,
    H, W) images and paired masks drawn by MixMaskGenerator."""
    cfg = load_config(plugin_config(CONFIGS[name]))
    cfg.model.mask_mode = mask_mode
    cfg.model.backbone.update(backbone or {})
    torch.manual_seed(0)
    model = build_model(cfg)
    model.init_weights()
    model.train()
    stride = model.backbone.output_stride
    size = tuple(side * stride for side in model.backbone.output_grid)
    gen = MixMaskGenerator(mask_patch_size=stride, input_size=size[0])
    np.random.seed(0)
    masks = np.stack([
        gen.transform(dict(img=np.zeros((*size, 3))))['mix_mask']
        for _ in range(batch)
    ])
    images = torch.randn(batch, 3, *size)
    return model, images, model.pair_masks(torch.from_numpy(masks))


@pytest.mark.parametrize('name,mask_mode,backbone',
                         [('tiny', 'per_pair', None),
                          ('tiny', 'per_batch', MIX_EMBED),
                          ('b', 'per_pair', None),
                          ('swin-tiny', 'per_pair', None)])
def test_forward_train_is_one_graph(name, mask_mode, backbone):
    """fullgraph=True raises at the first graph break; the counter sees
    exactly one graph, and the traced loss is the eager one."""
    model, images, masks = model_and_batch(name, mask_mode, 2, backbone)
    torch._dynamo.reset()
    counter = CompileCounter()
    compiled = torch.compile(
        model.forward_train, backend=counter, fullgraph=True)
    with torch.no_grad():
        loss = compiled(images, masks)['loss']
        eager = model.forward_train(images, masks)['loss']
    assert counter.frame_count == 1
    assert abs(loss.item() - eager.item()) < 1e-6


def test_autograd_graph_gives_the_eager_gradients():
    """AOTAutograd's joint forward + backward graph (what inductor lowers)
    of the tiny config gives the eager loss and gradients."""
    model, images, masks = model_and_batch('tiny', batch=4)
    params = [p for p in model.parameters() if p.requires_grad]
    eager = model.forward_train(images, masks)['loss']
    eager_grads = torch.autograd.grad(eager, params)
    torch._dynamo.reset()
    compiled = torch.compile(
        model.forward_train, backend='aot_eager', fullgraph=True)
    loss = compiled(images, masks)['loss']
    grads = torch.autograd.grad(loss, params)
    assert abs(loss.item() - eager.item()) < 1e-6
    for got, want in zip(grads, eager_grads):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_inductor_loss_matches_eager():
    """The real compiler (inductor, fp32; the forward, to keep the test
    short: the benchmark's --compile times the whole step): the compiled
    loss within 1e-4 of eager."""
    model, images, masks = model_and_batch('tiny', batch=4)
    torch._dynamo.reset()
    compiled = torch.compile(model.forward_train, fullgraph=True)
    with torch.no_grad():
        eager = model.forward_train(images, masks)
        got = compiled(images, masks)
    for key in ('loss', 'mse_copy1', 'mse_copy2'):
        assert abs(got[key].item() - eager[key].item()) < 1e-4, key


def _two_iterations(cfg_path: str, data_root: str, work_dir: str,
                    compile_cfg) -> list:
    """Train the config for 2 iterations of 4 images (seed 0) through its
    own runner; returns the runner and the logged losses."""
    from mmengine.registry import RUNNERS
    cfg = load_config(cfg_path)
    cfg.work_dir = work_dir
    cfg.compile = compile_cfg
    cfg.randomness = dict(seed=0)
    cfg.train_dataloader.dataset.data_root = data_root
    cfg.train_dataloader.dataset.indices = 8
    cfg.train_dataloader.batch_size = 4
    cfg.train_dataloader.num_workers = 0
    cfg.train_dataloader.persistent_workers = False
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2)
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=10)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.log_processor = dict(window_size=1, by_epoch=False)
    runner = RUNNERS.build(cfg)
    runner.train()
    scalars = runner.message_hub.log_scalars['train/loss'].data[0]
    return runner, list(scalars)


def test_config_compile_key_compiles_the_training_forward(
        embedded_data, tmp_path):
    """``compile`` in the shipped tiny config: FaultTolerantRunner compiles
    forward_train alone with fullgraph=True (a break would fail the run),
    and the losses are the eager run's."""
    cfg_path = plugin_config(CONFIGS['tiny'])
    root = embedded_data['imagenet'] + '/'
    torch._dynamo.reset()
    runner, compiled = _two_iterations(cfg_path, root, str(tmp_path / 'c'),
                                       dict(backend='eager'))
    model = runner.model
    assert hasattr(model.forward_train, '_torchdynamo_orig_callable')
    assert not hasattr(model.train_step, '_torchdynamo_orig_callable')
    _, eager = _two_iterations(cfg_path, root, str(tmp_path / 'e'), False)
    assert compiled == pytest.approx(eager, abs=1e-6)


def test_only_static_backbones_name_a_fullgraph_target():
    """MixMIM on ViT encodes each source as its own sequence, whose length
    is data: it names no fullgraph target (the runner leaves compiling to
    mmengine); the hierarchical encoder and Swin do."""
    built = {}
    for name in ('vit-tiny', 'swin-tiny'):
        cfg = load_config(
            plugin_config(f'mixmim/mixmim-{name}_1xb32_20e_embedded.py'))
        built[name] = build_model(cfg)
    assert built['vit-tiny'].compile_targets == ()
    assert built['swin-tiny'].compile_targets == ('forward_train', )
