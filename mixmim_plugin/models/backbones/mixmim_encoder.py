"""MixMIM's hierarchical encoder: a Swin-like transformer without shifted
windows, usable for MixMIM pretraining (masked self-attention on mixed
images), image classification and dense prediction (mmdet / mmseg).

The state-dict layout is mmpretrain's ``MixMIMTransformer`` layout (minus the
recomputable ``relative_position_index`` buffers, which the attention drops
when it loads), so mmpretrain checkpoints load as they are; the authors'
layout converts with :mod:`mixmim_plugin.converters`.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks.drop import DropPath
from mmcv.cnn.bricks.transformer import FFN, PatchEmbed, PatchMerging
from mmengine.logging import print_log
from mmengine.model import BaseModule, ModuleList
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.models.backbones.base_backbone import BaseBackbone
from mmpretrain.models.utils import (build_2d_sincos_position_embedding,
                                     resize_pos_embed)
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from mixmim_plugin.registry import MODELS
from ..utils.checked_load import LoadSpec, check_pretrained, no_weights_error
from ..utils.init import init_linear_and_norm
from ..utils.masks import Size, check_mix_units, upsample_mask
from ..utils.token_layout import (Layout, build_layout, check_stage_windows,
                                  resolve_window)
from ..utils.window_attention import LayoutMSA

OUT_TYPES = ('avg_featmap', 'featmap', 'raw')


class MixMIMBlock(BaseModule):
    """Pre-norm transformer block whose attention runs on a token layout.

    Args:
        embed_dims: C.
        num_heads: attention heads.
        window: the window its relative position bias is learned for.
        mlp_ratio: hidden width of the MLP over C.
        qkv_bias: bias in the qkv projection.
        drop_rate: dropout after the projections.
        attn_drop_rate: attention dropout.
        drop_path_rate: stochastic depth of both residual branches.
        norm_cfg: normalization layer.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 window: Size,
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = True,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 norm_cfg: dict = dict(type='LN'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.ln1 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.attn = LayoutMSA(
            embed_dims,
            num_heads,
            window,
            qkv_bias=qkv_bias,
            attn_drop=attn_drop_rate,
            proj_drop=drop_rate)
        self.drop_path = DropPath(
            drop_path_rate) if drop_path_rate > 0 else nn.Identity()
        self.ln2 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.ffn = FFN(
            embed_dims=embed_dims,
            feedforward_channels=int(embed_dims * mlp_ratio),
            num_fcs=2,
            ffn_drop=drop_rate,
            dropout_layer=dict(type='DropPath', drop_prob=drop_path_rate),
            act_cfg=dict(type='GELU'),
            add_identity=True)

    def forward(self, x: Tensor, layout: Layout) -> Tensor:
        """(B, L, C) tokens in ``layout`` order -> (B, L, C)."""
        x = x + self.drop_path(self.attn(self.ln1(x), layout))
        return self.ffn(self.ln2(x), identity=x)


class MixMIMStage(BaseModule):
    """The blocks of one resolution, then an optional patch merging.

    The feature map is laid out for attention once (window partition, or the
    source-grouped order during MixMIM pretraining) and restored once.

    Args:
        embed_dims: C of the stage.
        depth: number of blocks.
        num_heads: attention heads.
        window: window side of the blocks; the blocks use global attention
            where the map is no larger than the window.
        drop_path_rates: one stochastic depth rate per block.
        downsample: end with a PatchMerging to 2C channels.
        with_cp: gradient checkpointing of each block.
        global_blocks: indices of blocks that attend globally whatever the
            window (ViTDet-style propagation for large dense-prediction
            inputs; their relative position bias is resized to the map).
        block_cfg: other :class:`MixMIMBlock` arguments.

    Attributes:
        grouped: allow the source-grouped layout (:func:`build_layout`);
            False forces masked windows (the same result, for checking).
    """
    grouped = True

    def __init__(self,
                 embed_dims: int,
                 depth: int,
                 num_heads: int,
                 window: int,
                 drop_path_rates: Sequence[float],
                 downsample: bool,
                 with_cp: bool = False,
                 global_blocks: Sequence[int] = (),
                 norm_cfg: dict = dict(type='LN'),
                 block_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        bad = [i for i in global_blocks if not 0 <= i < depth]
        if bad:
            raise ValueError(f'global_blocks {bad} out of range for a stage '
                             f'of {depth} blocks')
        self.block_windows = [
            None if i in global_blocks else window for i in range(depth)
        ]
        self.with_cp = with_cp
        self.blocks = ModuleList([
            MixMIMBlock(
                embed_dims,
                num_heads, (window, window),
                drop_path_rate=drop_path_rates[i],
                norm_cfg=norm_cfg,
                **(block_cfg or {})) for i in range(depth)
        ])
        self.downsample = PatchMerging(
            in_channels=embed_dims,
            out_channels=2 * embed_dims,
            norm_cfg=norm_cfg) if downsample else None

    def forward(self,
                x: Tensor,
                hw: Size,
                groups: Optional[Tensor] = None
                ) -> Tuple[Tensor, Size, Tensor, Size]:
        """Run the stage.

        Args:
            x: (B, H * W, C) tokens in raster order.
            hw: (H, W).
            groups: (B, H, W) bool, True where a token comes from the partner
                image; None when the input is not mixed.

        Returns:
            (merged tokens, merged (H, W), stage output, stage (H, W)); the
            merged ones equal the output when there is no downsample.
        """
        layouts = {
            window: build_layout(hw, x.shape[0], window, groups, self.grouped)
            for window in set(self.block_windows)
        }
        tokens, current = x, None
        for block, window in zip(self.blocks, self.block_windows):
            layout = layouts[window]
            if layout is not current:  # re-lay tokens only when it changes
                if current is not None:
                    tokens = current.exit(tokens)
                tokens, current = layout.enter(tokens), layout
            if self.with_cp and tokens.requires_grad:
                tokens = checkpoint(block, tokens, layout, use_reentrant=False)
            else:
                tokens = block(tokens, layout)
        out = current.exit(tokens)
        if self.downsample is None:
            return out, hw, out, hw
        merged, merged_hw = self.downsample(out, hw)
        return merged, tuple(merged_hw), out, hw


@MODELS.register_module()
class MixMIMEncoder(BaseBackbone):
    """MixMIM's hierarchical encoder (arXiv:2205.13137).

    Patch embedding (4x4 conv + LN), a fixed 2-D sin-cos absolute position
    embedding, four stages of window attention with learned relative position
    bias and no shifted windows, patch merging between stages, final LN.

    Args:
        arch: ``'tiny'``, ``'b'``/``'base'``, ``'l'``/``'large'``,
            ``'h'``/``'huge'``, or a dict with ``embed_dims``, ``depths`` and
            ``num_heads``.
        img_size: the input size the position embedding is built for; other
            sizes interpolate it.
        patch_size: side of the patch embedding.
        in_channels: image channels.
        window_size: window side per stage; a window at least as large as
            the stage map gives global attention.
        mlp_ratio: MLP hidden width over C.
        qkv_bias: bias in the qkv projections.
        drop_rate: dropout after position embedding and projections.
        attn_drop_rate: attention dropout.
        drop_path_rate: stochastic depth, rising linearly over the blocks.
        out_indices: stages whose outputs are returned.
        out_type: ``'avg_featmap'`` (B, C) pooled after the norm, as
            mmpretrain's classifier expects; ``'featmap'`` (B, C, H, W) maps
            for mmdet/mmseg necks; ``'raw'`` (B, L, C) tokens.
        norm_cfg: normalization layers.
        with_cp: gradient checkpointing of every block.
        frozen_stages: freeze the patch embedding (0) and stages ``1..n``.
        global_blocks: per stage, indices of blocks with global attention
            (e.g. ``[[], [], [5, 11, 17], []]`` for detection inputs, where
            stage 3 then uses 14x14 windows plus three global blocks);
            default: none.
        masked_attn: in ``forward_mixed``, restrict attention to tokens of
            the same source image (MixMIM's default).
        mix_embed: in ``forward_mixed``, add one of two learned vectors per
            stage (``mix_embeds.{stage}``, shape (2, C)) to every token at
            the stage's start, telling the two source images apart: the
            paper's alternative to masked attention (use it with
            ``masked_attn=False``).
        init_cfg: initialization config.
    """
    arch_zoo = {
        alias: dict(embed_dims=width, depths=depths, num_heads=heads)
        for aliases, width, depths, heads in (
            (('t', 'tiny'), 64, [1, 1, 3, 1], [2, 4, 8, 16]),
            (('b', 'base'), 128, [2, 2, 18, 2], [4, 8, 16, 32]),
            (('l', 'large'), 192, [2, 2, 18, 2], [6, 12, 24, 48]),
            (('h', 'huge'), 352, [2, 2, 18, 2], [11, 22, 44, 88]),
        )
        for alias in aliases
    }

    def __init__(self,
                 arch: Union[str, dict] = 'base',
                 img_size: Union[int, Sequence[int]] = 224,
                 patch_size: int = 4,
                 in_channels: int = 3,
                 window_size: Sequence[int] = (14, 14, 14, 7),
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = True,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 out_indices: Sequence[int] = (3, ),
                 out_type: str = 'avg_featmap',
                 norm_cfg: dict = dict(type='LN'),
                 with_cp: bool = False,
                 frozen_stages: int = -1,
                 global_blocks: Optional[Sequence[Sequence[int]]] = None,
                 masked_attn: bool = True,
                 mix_embed: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        settings = self._arch_settings(arch)
        self.embed_dims = settings['embed_dims']
        self.depths = list(settings['depths'])
        self.num_heads = list(settings['num_heads'])
        self.num_stages = len(self.depths)
        if len(window_size) != self.num_stages:
            raise ValueError(f'window_size has {len(window_size)} entries '
                             f'for {self.num_stages} stages')
        self.window_size = list(window_size)
        self.patch_size = patch_size
        self.img_size = (img_size, img_size) if isinstance(
            img_size, int) else tuple(img_size)
        if out_type not in OUT_TYPES:
            raise ValueError(
                f'out_type {out_type!r} is not one of {OUT_TYPES}')
        self.out_type = out_type
        self.out_indices = self._check_out_indices(out_indices)
        self.frozen_stages = frozen_stages

        self.patch_embed = PatchEmbed(
            in_channels=in_channels,
            embed_dims=self.embed_dims,
            conv_type='Conv2d',
            kernel_size=patch_size,
            stride=patch_size,
            padding='corner',
            norm_cfg=dict(type='LN'),
            input_size=self.img_size)
        self.patch_resolution = tuple(self.patch_embed.init_out_size)
        self.output_stride = patch_size * 2**(self.num_stages - 1)
        self.register_buffer(
            'absolute_pos_embed',
            build_2d_sincos_position_embedding(self.patch_resolution,
                                               self.embed_dims))
        self.drop_after_pos = nn.Dropout(p=drop_rate)

        # as mmpretrain and the authors, a window at least as large as the
        # (square) stage map at ``img_size`` is clipped to it, which sizes
        # the bias table (stages 3 and 4 at 224 are global)
        side = min(self.patch_resolution)
        self.window_size = [
            resolve_window((side // 2**i, ) * 2, w)[0]
            for i, w in enumerate(self.window_size)
        ]
        global_blocks = global_blocks or [()] * self.num_stages
        if len(global_blocks) != self.num_stages:
            raise ValueError(f'global_blocks has {len(global_blocks)} '
                             f'entries for {self.num_stages} stages')
        rates = torch.linspace(0, drop_path_rate, sum(self.depths)).tolist()
        block_cfg = dict(
            mlp_ratio=mlp_ratio,
            qkv_bias=qkv_bias,
            drop_rate=drop_rate,
            attn_drop_rate=attn_drop_rate)
        self.layers = ModuleList()
        for i, depth in enumerate(self.depths):
            start = sum(self.depths[:i])
            self.layers.append(
                MixMIMStage(
                    embed_dims=self.embed_dims * 2**i,
                    depth=depth,
                    num_heads=self.num_heads[i],
                    window=self.window_size[i],
                    drop_path_rates=rates[start:start + depth],
                    downsample=i < self.num_stages - 1,
                    with_cp=with_cp,
                    global_blocks=global_blocks[i],
                    norm_cfg=norm_cfg,
                    block_cfg=block_cfg))
        self.num_features = [
            self.embed_dims * 2**i for i in range(self.num_stages)
        ]
        self.masked_attn = masked_attn
        self.mix_embeds = nn.ParameterList(
            [nn.Parameter(torch.zeros(2, c))
             for c in self.num_features]) if mix_embed else None
        # the last stage's norm is pretrained (``norm``); other outputs get a
        # fresh ``norm{i}`` each
        self.norm = build_norm_layer(norm_cfg, self.num_features[-1])[1]
        for i in self.out_indices:
            if i != self.num_stages - 1:
                self.add_module(
                    f'norm{i}',
                    build_norm_layer(norm_cfg, self.num_features[i])[1])
        self._freeze_stages()

    @property
    def output_channels(self) -> int:
        """Channels of the last stage (the tokens of ``forward_mixed``)."""
        return self.num_features[-1]

    @property
    def stage_strides(self) -> List[int]:
        """Pixels per token side of each stage."""
        return [self.patch_size * 2**i for i in range(self.num_stages)]

    @property
    def output_grid(self) -> Size:
        """(h, w) of the last stage at ``img_size``."""
        down = 2**(self.num_stages - 1)
        return tuple(side // down for side in self.patch_resolution)

    # ------------------------------------------------------------------ setup
    def _arch_settings(self, arch: Union[str, dict]) -> Dict:
        if isinstance(arch, str):
            key = arch.lower()
            if key not in self.arch_zoo:
                raise ValueError(f'unknown MixMIMEncoder arch {arch!r}; '
                                 f'choose from {sorted(set(self.arch_zoo))} '
                                 'or give a dict')
            return self.arch_zoo[key]
        needed = {'embed_dims', 'depths', 'num_heads'}
        if not isinstance(arch, dict) or not needed <= set(arch):
            raise ValueError(f'a custom arch must be a dict with keys '
                             f'{sorted(needed)}, got {arch!r}')
        if len(arch['depths']) != len(arch['num_heads']):
            raise ValueError('arch depths and num_heads differ in length')
        return arch

    def _check_out_indices(self, out_indices: Sequence[int]) -> List[int]:
        if isinstance(out_indices, int):
            out_indices = [out_indices]
        result = []
        for i in out_indices:
            j = i + self.num_stages if i < 0 else i
            if not 0 <= j < self.num_stages:
                raise ValueError(f'out_indices entry {i} is out of range for '
                                 f'{self.num_stages} stages')
            result.append(j)
        return result

    def load_spec(self) -> LoadSpec:
        """What a pretraining checkpoint lacks or holds in another size: the
        dense outputs' ``norm0``-``norm2`` (only the last stage's ``norm`` is
        pretrained) and the mix embeddings (dropped from backbone-only
        checkpoints) are fresh; the position embedding and the bias tables
        are resized; mmpretrain's ``relative_position_index`` is dropped."""
        return LoadSpec(
            fresh=('norm[0-9]*', 'mix_embeds.*'),
            resized=('absolute_pos_embed', '*.relative_position_bias_table'),
            derived=('*.relative_position_index', ))

    def init_weights(self) -> None:
        pretrained = check_pretrained(self, self.load_spec())
        super().init_weights()
        if pretrained:
            return
        self.apply(init_linear_and_norm)
        for module in self.modules():
            if isinstance(module, LayoutMSA):
                module.init_weights()
        if self.mix_embeds is not None:
            for embed in self.mix_embeds:
                trunc_normal_(embed, std=.02)

    def _freeze_stages(self) -> None:
        """Freeze the patch embedding (``frozen_stages >= 0``), the first
        ``frozen_stages`` stages and their output norms; freezing every stage
        also freezes the final norm (linear probing)."""
        if self.frozen_stages < 0:
            return
        frozen = [self.patch_embed] + list(self.layers[:self.frozen_stages])
        frozen += [
            getattr(self, f'norm{i}') for i in self.out_indices
            if i < self.frozen_stages and i != self.num_stages - 1
        ]
        if self.frozen_stages >= self.num_stages:
            frozen.append(self.norm)
        for module in frozen:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'MixMIMEncoder':
        super().train(mode)
        self._freeze_stages()
        return self

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Accept checkpoints of other input sizes and of mmpretrain's
        layout: a position embedding of another grid is resized
        (bicubic), and a checkpoint holding none of the encoder's weights is
        an error (a wrong ``prefix`` or another model), not a silent no-op.
        Relative position tables are handled by :class:`LayoutMSA`."""
        own = [prefix + k for k in self.state_dict()]
        if not any(k in state_dict for k in own):
            raise no_weights_error(type(self).__name__, own, state_dict)
        key = prefix + 'absolute_pos_embed'
        if key in state_dict and state_dict[key].shape != \
                self.absolute_pos_embed.shape:
            src = state_dict[key]
            side = int(round(src.shape[1]**.5))
            state_dict[key] = resize_pos_embed(
                src, (side, side),
                self.patch_resolution,
                mode='bicubic',
                num_extra_tokens=0)
            print_log(
                f'resized {key} from a {side}x{side} to a '
                f'{self.patch_resolution[0]}x{self.patch_resolution[1]} grid',
                'current')
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # --------------------------------------------------------------- forward
    def pos_embed(self, hw: Size) -> Tensor:
        """(1, H * W, C) absolute position embedding for a patch grid."""
        if tuple(hw) == self.patch_resolution:
            return self.absolute_pos_embed
        return resize_pos_embed(
            self.absolute_pos_embed,
            self.patch_resolution,
            hw,
            mode='bicubic',
            num_extra_tokens=0)

    def embed(self, x: Tensor) -> Tuple[Tensor, Size]:
        """(B, 3, H, W) images -> (B, L, C) position-embedded tokens."""
        if x.dim() != 4:
            raise ValueError(f'{type(self).__name__} takes (B, C, H, W) '
                             f'images, got a tensor of shape {tuple(x.shape)}')
        x, hw = self.patch_embed(x)
        hw = tuple(hw)
        x = self.drop_after_pos(x + self.pos_embed(hw).to(x.dtype))
        return x, hw

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Encode unmixed images.

        Returns one output per ``out_indices``, shaped by ``out_type``:
        (B, C), (B, C, H, W) or (B, L, C).
        """
        x, hw = self.embed(x)
        outs = []
        for i, stage in enumerate(self.layers):
            x, hw_next, out, out_hw = stage(x, hw)
            if i in self.out_indices:
                outs.append(self._format(i, out, out_hw))
            hw = hw_next
        return tuple(outs)

    def forward_mixed(self, x: Tensor, mix_mask: Tensor) -> Tensor:
        """Encode mixed images with masked self-attention.

        Args:
            x: (B, 3, H, W) mixed images.
            mix_mask: (B, h, w) bool on the mix-unit grid, True where the
                unit comes from the partner image. Each unit must cover an
                integer number of tokens at every stage.

        Returns:
            (B, h_out * w_out, C) normalized last-stage tokens.
        """
        check_mix_units(x, mix_mask, self.output_stride, type(self).__name__)
        check_stage_windows(x.shape[-2:], self.stage_strides, self.window_size)
        return self.encode(*self.embed(x), mix_mask)

    def encode(self,
               x: Tensor,
               hw: Size,
               mix_mask: Optional[Tensor] = None) -> Tensor:
        """Run the stages and the final norm on embedded tokens.

        Args:
            x: (B, H * W, C) position-embedded tokens (:meth:`embed`).
            hw: (H, W) of the token map.
            mix_mask: (B, h, w) bool unit mask of mixed inputs (masked
                attention and/or mix embeddings, as configured), or None.

        Returns:
            (B, L_last, C_last) normalized last-stage tokens.
        """
        for i, stage in enumerate(self.layers):
            groups = None
            if mix_mask is not None:
                groups = upsample_mask(mix_mask, hw)
                if self.mix_embeds is not None:
                    embed = self.mix_embeds[i].to(x.dtype)
                    x = x + embed[groups.flatten(1).long()]
                if not self.masked_attn:
                    groups = None
            x, hw, _, _ = stage(x, hw, groups)
        return self.norm(x)

    def _format(self, index: int, x: Tensor, hw: Size) -> Tensor:
        norm = self.norm if index == self.num_stages - 1 else getattr(
            self, f'norm{index}')
        x = norm(x)
        if self.out_type == 'raw':
            return x
        if self.out_type == 'avg_featmap':
            return x.mean(dim=1)
        B, _, C = x.shape
        return x.transpose(1, 2).reshape(B, C, *hw).contiguous()

    # ------------------------------------------------------ layer-wise decay
    def get_layer_depth(self, param_name: str, prefix: str = ''):
        """Layer id of a parameter for layer-wise learning-rate decay.

        Depth 0 is the stem, block ``j`` of stage ``i`` is
        ``sum(depths[:i]) + j + 1``, a patch merging shares the depth of the
        last block before it, and everything after the encoder is last.
        """
        num_layers = sum(self.depths) + 2
        if not param_name.startswith(prefix):
            return (num_layers -
                    2 if param_name.startswith('neck') else num_layers -
                    1), num_layers
        name = param_name[len(prefix):]
        if name.startswith(('patch_embed', 'absolute_pos_embed')):
            return 0, num_layers
        if name.startswith('layers.'):
            parts = name.split('.')
            stage = int(parts[1])
            if parts[2] == 'blocks':
                return sum(self.depths[:stage]) + int(parts[3]) + 1, num_layers
            return sum(self.depths[:stage + 1]), num_layers
        return num_layers - 2, num_layers
