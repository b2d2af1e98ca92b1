"""MixMIM on other encoders: a plain ViT (:class:`MixMIMViT`) and Swin
(:class:`MixMIMSwin`)."""
import os.path as osp
from functools import partial

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.dataset import Compose, default_collate
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmpretrain.models.backbones import SwinTransformer, VisionTransformer
from mmpretrain.models.selfsup import MAEViT
from mmpretrain.structures import DataSample

from mixmim_plugin.models.backbones import MixMIMSwin, MixMIMViT, mixmim_swin
from mixmim_plugin.models.utils import check_mix_units, upsample_mask
from mixmim_plugin.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
VIT_ARCH = dict(
    embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
SWIN_ARCH = dict(embed_dims=16, depths=[2, 2, 2, 2], num_heads=[1, 2, 2, 4])
SWIN = dict(arch=SWIN_ARCH, window_size=4, drop_path_rate=0.)
# name -> (class, kwargs, image side); Swin at 128 with window 4 shifts the
# 32/16/8 maps; at 96 the 6x6 and 3x3 maps are padded (and shifted)
ENCODERS = {
    'vit': (MixMIMViT, dict(arch=VIT_ARCH, img_size=64,
                            out_type='featmap'), 64),
    'vit-nocls': (MixMIMViT,
                  dict(
                      arch=VIT_ARCH,
                      img_size=64,
                      out_type='featmap',
                      with_cls_token=False), 64),
    'swin': (MixMIMSwin, dict(SWIN, img_size=128), 128),
    'swin-padded': (MixMIMSwin, dict(SWIN, img_size=96,
                                     pad_small_map=True), 96),
}
PARENTS = {MixMIMViT: VisionTransformer, MixMIMSwin: SwinTransformer}


def randomized(model: torch.nn.Module) -> torch.nn.Module:
    """Give the zero-initialized position parameters random values, so that
    each of them matters in the comparisons; eval mode."""
    torch.manual_seed(0)
    for name, param in model.named_parameters():
        position = name.endswith('relative_position_bias_table')
        if position or name in ('pos_embed', 'cls_token'):
            torch.nn.init.normal_(param, std=0.5)
    model.eval()  # mmpretrain's train() returns None
    return model


def encoder(name: str):
    cls, kwargs, side = ENCODERS[name]
    torch.manual_seed(0)
    return randomized(cls(**kwargs)), side


def paired_masks(B: int, side: int, counts, seed: int = 0) -> torch.Tensor:
    """(B, side, side) unit masks, image i and B-1-i sharing one; ``counts``
    gives the number of partner units of each pair."""
    g = torch.Generator().manual_seed(seed)
    masks = torch.zeros(B, side * side, dtype=torch.bool)
    for i, count in zip(range(B // 2), counts):
        masks[i, torch.randperm(side * side, generator=g)[:count]] = True
        masks[B - 1 - i] = masks[i]
    return masks.view(B, side, side)


def pixels(masks: torch.Tensor, size: int) -> torch.Tensor:
    """(B, 1, size, size) bool pixel mask of (B, h, w) unit masks."""
    rep = size // masks.shape[1]
    return masks.repeat_interleave(rep, 1).repeat_interleave(rep,
                                                             2).unsqueeze(1)


def token_mask(model, x, masks) -> torch.Tensor:
    """(B, L) bool: True where an output token belongs to the partner."""
    check_mix_units(x, masks, model.output_stride, 'test')
    side = model.output_stride
    grid = (x.shape[-2] // side, x.shape[-1] // side)
    return upsample_mask(masks, grid).flatten(1)


def plain_tokens(model, x) -> torch.Tensor:
    """(B, L, C) last-layer tokens of the plain ``forward``."""
    return model(x)[-1].flatten(2).transpose(1, 2)


def changes(model, encode, x, masks, side_to_change: str) -> tuple:
    """Max change of the own-unit and partner-unit tokens when the pixels of
    one side (``'partner'`` or ``'own'``) of every mixed image change."""
    pix = pixels(masks, x.shape[-1])
    noise = torch.randn_like(x)
    where = pix if side_to_change == 'partner' else ~pix
    y = torch.where(where, noise, x)
    with torch.no_grad():
        delta = (encode(x) - encode(y)).abs().float().amax(-1)
    partner = token_mask(model, x, masks)
    return delta[~partner].max().item(), delta[partner].max().item()


def build(cfg):
    with DefaultScope.overwrite_default_scope('mixmim_plugin'):
        model = MODELS.build(cfg)
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel('ERROR')  # init_weights prints a table per parameter
    model.init_weights()
    logger.setLevel(level)
    return model


# ------------------------------------------------------------------ isolation
@pytest.mark.parametrize('name', list(ENCODERS))
@pytest.mark.parametrize('mode', ['fp32', 'bf16-train', 'bf16-eval'])
def test_tokens_depend_on_their_own_image_only(name, mode):
    """Changing the partner's pixels of a mixed image leaves the tokens of
    the image's own units unchanged, and vice versa: in fp32 and under bf16
    autocast with gradients on (the CPU's own low-precision attention) and
    off (SDPA). Measured exactly 0 on CPU; the tolerance only allows float
    noise, a leak changes tokens by O(1)."""
    model, side = encoder(name)
    grid = side // 32
    masks = paired_masks(4, grid, [grid * grid // 2, 1])
    x = torch.randn(4, 3, side, side)

    def mixed(images):
        with torch.autocast('cpu', torch.bfloat16, enabled=mode != 'fp32'):
            with torch.set_grad_enabled(mode != 'bf16-eval'):
                return model.forward_mixed(images, masks).detach()

    own, partner = changes(model, mixed, x, masks, 'partner')
    assert own <= 1e-6 and partner > 0.1
    own, partner = changes(model, mixed, x, masks, 'own')
    assert partner <= 1e-6 and own > 0.1


@pytest.mark.parametrize('name', ['vit', 'swin', 'swin-padded'])
def test_plain_forward_mixes_the_images(name):
    """Without the mask, the same check fails: the test can fail."""
    model, side = encoder(name)
    grid = side // 32
    masks = paired_masks(4, grid, [grid * grid // 2, 1])
    own, _ = changes(model, partial(plain_tokens, model),
                     torch.randn(4, 3, side, side), masks, 'partner')
    assert own > 0.1


def test_swin_shifted_windows_need_the_source_mask(monkeypatch):
    """Dropping the source mask from the shifted blocks alone breaks the
    isolation: shifted windows straddle mix units."""
    model, side = encoder('swin')
    original = mixmim_swin.shift_plan

    def unmasked_when_shifted(groups, window, shift, pad_small_map):
        if shift:
            groups = torch.zeros_like(groups)
        return original(groups, window, shift, pad_small_map)

    monkeypatch.setattr(mixmim_swin, 'shift_plan', unmasked_when_shifted)
    masks = paired_masks(2, side // 32, [8])
    own, _ = changes(model, partial(model.forward_mixed, mix_mask=masks),
                     torch.randn(2, 3, side, side), masks, 'partner')
    assert own > 0.1


@pytest.mark.parametrize('name', list(ENCODERS))
def test_single_source_mask_reproduces_forward(name):
    """With nothing mixed, forward_mixed is the parent's forward: same
    [CLS] handling, shift mask, padding and norms."""
    model, side = encoder(name)
    x = torch.randn(2, 3, side, side)
    none = torch.zeros(2, side // 32, side // 32, dtype=torch.bool)
    with torch.no_grad():
        torch.testing.assert_close(
            model.forward_mixed(x, none),
            plain_tokens(model, x),
            rtol=1e-5,
            atol=1e-5)


# ------------------------------------------------------- ViT: fast == masked
def masked_layer(layer, x: torch.Tensor,
                 allowed: torch.Tensor) -> torch.Tensor:
    """One mmpretrain ``TransformerEncoderLayer`` (pre-norm attention and
    FFN, eval mode) with a dense boolean-masked SDPA, from its weights."""
    attn = layer.attn
    B, N, C = x.shape
    qkv = attn.qkv(layer.ln1(x)).reshape(B, N, 3, attn.num_heads, -1)
    q, k, v = qkv.permute(2, 0, 3, 1, 4)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
    out = attn.proj(out.transpose(1, 2).reshape(B, N, C))
    x = x + attn.gamma1(out)
    return layer.ffn(layer.ln2(x), identity=x)


def vit_masked_reference(model: MixMIMViT, x: torch.Tensor,
                         masks: torch.Tensor) -> torch.Tensor:
    """The full token sequence [CLS(image), CLS(partner), patches] through
    the layers with a dense masked attention (SDPA with a boolean mask):
    a token attends only to tokens of its own source."""
    groups = token_mask(model, x, masks).long()
    tokens, _ = model.patch_embed(x)
    B, L, C = tokens.shape
    extra = model.num_extra_tokens
    tokens = tokens + model.pos_embed[:, extra:]
    labels = groups
    if extra:
        cls = (model.cls_token + model.pos_embed[:, :1]).expand(B, 2, C)
        tokens = torch.cat([cls, tokens], dim=1)
        labels = torch.cat([torch.tensor([[0, 1]]).expand(B, 2), groups], 1)
    allowed = (labels.unsqueeze(-1) == labels.unsqueeze(-2)).unsqueeze(1)
    for layer in model.layers:
        tokens = masked_layer(layer, tokens, allowed)
    return model.ln1(tokens)[:, 2 * extra:]


@pytest.mark.parametrize('name', ['vit', 'vit-nocls'])
def test_vit_grouped_path_equals_masked_attention(name):
    """Pairs with different partner-unit counts (separate batches, unequal
    group sizes, a group of 4 tokens vs 12) and one with equal groups."""
    model, side = encoder(name)
    x = torch.randn(6, 3, side, side)
    masks = paired_masks(6, 2, [2, 1, 3])
    with torch.no_grad():
        fast = model.forward_mixed(x, masks)
        reference = vit_masked_reference(model, x, masks)
    assert fast.shape == (6, 16, 32)
    torch.testing.assert_close(fast, reference, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------ weights and forward
@pytest.mark.parametrize('name', ['vit', 'swin'])
def test_forward_and_state_dict_are_the_parents(name):
    model, side = encoder(name)
    cls, kwargs, _ = ENCODERS[name]
    parent = PARENTS[cls](**kwargs)
    parent.eval()
    # the parent's (mmpretrain-layout) weights load strictly, both ways
    parent.load_state_dict(model.state_dict())
    model.load_state_dict(parent.state_dict())
    x = torch.randn(2, 3, side, side)
    with torch.no_grad():
        torch.testing.assert_close(model(x), parent(x), rtol=1e-5, atol=1e-6)


def test_mae_vit_checkpoint_loads():
    mae = MAEViT(arch=VIT_ARCH, img_size=64)
    model = MixMIMViT(arch=VIT_ARCH, img_size=64)
    result = model.load_state_dict(mae.state_dict())
    assert not result.missing_keys and not result.unexpected_keys


def test_swin_legacy_checkpoint_keys_load():
    """Old Swin checkpoints ('norm.' for the last norm, 'attn_mask'
    buffers) load as into the parent class."""
    model, _ = encoder('swin')
    legacy = {
        k.replace('norm3.', 'norm.'): v
        for k, v in model.state_dict().items()
    }
    legacy['stages.0.blocks.1.attn.attn_mask'] = torch.zeros(64, 16, 16)
    fresh = MixMIMSwin(**ENCODERS['swin'][1])
    fresh.load_state_dict(legacy)  # strict; a plain dict has no version
    torch.testing.assert_close(fresh.norm3.weight, model.norm3.weight)


def test_swin_gradient_checkpointing_gives_the_same_gradients():
    kwargs = dict(SWIN, img_size=64, window_size=2)
    grads = []
    for with_cp in (False, True):
        torch.manual_seed(0)
        model = MixMIMSwin(with_cp=with_cp, **kwargs)
        x = torch.randn(2, 3, 64, 64)
        model.forward_mixed(x, paired_masks(2, 2, [2])).sum().backward()
        grads.append(model.stages[0].blocks[1].attn.w_msa.qkv.weight.grad)
    torch.testing.assert_close(grads[0], grads[1])


# ------------------------------------------------------------ pretraining
def tiny_pretrainer(backbone: dict, tokens: int, channels: int,
                    patch: int) -> torch.nn.Module:
    return build(
        dict(
            type='MixMIMPretrainer',
            backbone=backbone,
            neck=dict(
                type='MixMIMDualDecoder',
                num_patches=tokens,
                in_channels=channels,
                patch_size=patch,
                decoder_embed_dim=32,
                decoder_depth=1,
                decoder_num_heads=2),
            head=dict(
                type='MixMIMDualHead',
                norm_pix=True,
                patch_size=patch,
                loss=dict(type='PixelReconstructionLoss', criterion='L2'))))


PRETRAINERS = {
    # ViT/16 at 64: 4x4 tokens of 16 px, each 32-px unit is 2x2 tokens
    'vit': (dict(type='MixMIMViT', arch=VIT_ARCH, img_size=64), 16, 32, 16),
    # Swin at 64, window 2: maps 16/8/4/2, last stride 32: 2x2 tokens
    'swin': (dict(SWIN, type='MixMIMSwin', img_size=64,
                  window_size=2), 4, 128, 32),
}


@pytest.mark.parametrize('name', list(PRETRAINERS))
def test_pretrainer_trains_with_the_encoder(name):
    backbone, tokens, channels, patch = PRETRAINERS[name]
    model = tiny_pretrainer(backbone, tokens, channels, patch)
    model.train()
    torch.manual_seed(0)
    x = F.interpolate(torch.randn(4, 3, 4, 4), size=64, mode='bilinear')
    masks = paired_masks(4, 2, [2, 2])
    latent = model.backbone.forward_mixed(x, masks)
    assert latent.shape == (4, tokens, channels)
    assert tokens * patch**2 == 64 * 64  # the head's grid is the encoder's
    samples = [DataSample(mix_mask=m.numpy()) for m in masks]
    optim = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(8):
        loss = model.loss(x, samples)['loss']
        optim.zero_grad()
        loss.backward()
        optim.step()
        losses.append(loss.item())
    assert losses[-1] < 0.95 * losses[0]
    assert model.backbone.patch_embed.projection.weight.grad.abs().sum() > 0


# ----------------------------------------------------------------- configs
CONFIGS = {
    'mixmim-vit-b_8xb128_600e.py': (224, 196, 768, 16),
    'mixmim-swin-b_8xb128_600e.py': (224, 49, 1024, 32),
    'mixmim-vit-tiny_1xb32_20e_embedded.py': (128, 64, 192, 16),
    'mixmim-swin-tiny_1xb32_20e_embedded.py': (128, 16, 512, 32),
}


def config(name: str) -> Config:
    return Config.fromfile(osp.join(REPO, 'configs', 'mixmim', name))


@pytest.mark.parametrize('name', list(CONFIGS))
def test_configs_build_consistent_models(name):
    size, tokens, channels, patch = CONFIGS[name]
    cfg = config(name)
    with DefaultScope.overwrite_default_scope('mixmim_plugin'):
        model = MODELS.build(cfg.model)
        pipeline = Compose(cfg.train_dataloader.dataset.pipeline)
    assert type(model.backbone).__name__ in ('MixMIMViT', 'MixMIMSwin')
    stride = model.backbone.output_stride
    assert stride == patch == model.head.patch_size == model.neck.patch_size
    assert model.neck.num_patches == tokens == (size // patch)**2
    assert model.neck.decoder_embed.in_features == channels
    generator = pipeline.transforms[-2]
    assert type(generator).__name__ == 'MixMaskGenerator'
    assert generator.input_size == (size, size)
    assert generator.mask_patch_size % stride == 0


@pytest.mark.slow
@pytest.mark.parametrize('name', list(CONFIGS)[:2])
def test_base_configs_encode_at_224(name):
    _, tokens, channels, _ = CONFIGS[name]
    with DefaultScope.overwrite_default_scope('mixmim_plugin'):
        backbone = MODELS.build(config(name).model.backbone)
    backbone.eval()
    masks = paired_masks(2, 7, [24])
    with torch.no_grad():
        out = backbone.forward_mixed(torch.randn(2, 3, 224, 224), masks)
    assert out.shape == (2, tokens, channels)


@pytest.mark.slow
@pytest.mark.parametrize('name', list(CONFIGS)[2:])
def test_embedded_configs_train_on_the_embedded_data(name, embedded_data):
    """The config's pipeline on embedded images, its data preprocessor and
    bf16 optimizer wrapper: a few steps on one batch lower the loss."""
    cfg = config(name)
    root = embedded_data['imagenet']
    with open(osp.join(root, 'meta', 'train.txt')) as f:
        names = [line.split()[0] for line in f][:8]
    with DefaultScope.overwrite_default_scope('mixmim_plugin'):
        pipeline = Compose(cfg.train_dataloader.dataset.pipeline)
        batch = default_collate([
            pipeline(dict(img_path=osp.join(root, 'train', n))) for n in names
        ])
        model = build(cfg.model)
        model.train()
        optim = build_optim_wrapper(model, cfg.optim_wrapper)
    losses = [model.train_step(batch, optim)['loss'].item() for _ in range(8)]
    assert losses[-1] < 0.9 * losses[0]


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize('name,size,grid,match', [
    ('vit', (72, 64), 2, 'input 72x64 is not a multiple of the encoder '
     'stride 16'),
    ('vit', (64, 64), 3, 'the mix-mask grid 3x3 does not divide the '
     '64x64 input'),
    ('vit', (64, 64), 8, r'mix units of 8x8 px \(8x8 grid on 64x64\) '
     'are not a multiple of the encoder stride 16'),
    ('swin', (128, 128), 8, 'mix units of 16x16 px .* not a multiple '
     'of the encoder stride 32'),
    ('swin', (112, 128), 4, 'input 112x128 is not a multiple of the '
     'encoder stride 32'),
])
def test_bad_sizes_are_reported(name, size, grid, match):
    model, _ = encoder(name)
    masks = torch.zeros(2, grid, grid, dtype=torch.bool)
    with pytest.raises(ValueError, match=match):
        model.forward_mixed(torch.randn(2, 3, *size), masks)


def test_bad_mask_shape_is_reported():
    model, _ = encoder('vit')
    with pytest.raises(ValueError, match=r'\(B, h, w\) with B=2'):
        model.forward_mixed(
            torch.randn(2, 3, 64, 64), torch.zeros(3, 2, 2, dtype=torch.bool))


def test_swin_map_smaller_than_window_is_reported():
    model = MixMIMSwin(arch=SWIN_ARCH, img_size=64, window_size=4)
    match = 'a 2x2 token map is smaller than the window 4'
    with pytest.raises(ValueError, match=match):
        model.forward_mixed(torch.randn(2, 3, 64, 64), paired_masks(2, 2, [2]))


def test_swin_without_last_stage_norm_is_reported():
    model = MixMIMSwin(arch=SWIN_ARCH, img_size=64, out_indices=(1, 2))
    with pytest.raises(ValueError, match=r'last stage \(3\)'):
        model.forward_mixed(torch.randn(2, 3, 64, 64), paired_masks(2, 2, [2]))


@pytest.mark.parametrize('cls,kwargs', [
    (MixMIMViT, dict(arch=VIT_ARCH, patch_cfg=dict(kernel_size=24))),
    (MixMIMSwin,
     dict(
         arch=SWIN_ARCH,
         stage_cfgs=dict(downsample_cfg=dict(kernel_size=3, stride=2)))),
])
def test_overlapping_patches_are_rejected(cls, kwargs):
    model = cls(img_size=64, **kwargs)
    with pytest.raises(ValueError, match='non-overlapping'):
        model.forward_mixed(torch.randn(2, 3, 64, 64), paired_masks(2, 2, [2]))
