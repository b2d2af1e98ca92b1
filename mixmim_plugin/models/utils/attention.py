"""The one attention kernel of the plugin and its backend policy.

Every attention of the plugin's models (the MixMIM encoder's layout
attention, MixMIM on ViT and Swin, the MixMIM and DropPos decoders, DropPos's
ViT) computes ``softmax(q k^T * scale + bias) v`` through :func:`attend`,
which picks a backend by one explicit policy, as timm's ``use_fused_attn``
does for its models:

* ``'sdpa'``: ``torch.nn.functional.scaled_dot_product_attention``, with a
  boolean ``allowed`` mask folded into the additive bias as ``-inf``. On CUDA
  its memory-efficient kernel fuses the bias and returns its gradient; on
  a CPU without gradients its flash kernel is as fast as anything written
  here.
* ``'math'``: the product written out in the inputs' dtype, the mask filled
  in place into the scores. It exists for CPU training: there SDPA's math
  fallback (the CPU flash kernel takes no mask that needs a gradient)
  materializes the bias with the mask folded in, then upcasts low-precision
  q, k, v and the mask to fp32 and adds a safe-softmax pass, and the CPU
  flash kernel itself is slow for short sequences. Measured forward +
  backward on 2-core CPUs, SDPA against written out: bf16 (AVX-512), 64
  windows x 4 heads x 196 tokens with bias, 159 ms vs 59 ms; 8 x 16 heads x
  49 tokens without mask (the decoder), 14.1 ms vs 2.1 ms. fp32 (AVX2),
  MixMIM-B's shapes at batch 4: 285 vs 254 ms (stage 1, bias and mask),
  93 vs 80 ms (stage 2), 7.4 vs 5.5 ms (a stage-3 source group with bias),
  3.9 vs 3.4 ms (the decoder).
* ``'auto'`` (the default): ``'math'`` for CPU training (gradients
  enabled), ``'sdpa'`` everywhere else.

The policy of a module is its ``attn_backend`` attribute, taken at build
time from the environment variable ``MIXMIM_ATTENTION`` (``auto``,
``sdpa`` or ``math``; default ``auto``); assign the attribute to change one
module. The first call of every (policy, backend, device, dtype) is logged,
so a log shows which kernel ran.

Masking uses ``-inf``, never a large finite constant, so it is exact in
fp32, bf16 and fp16: every query keeps at least itself, so no softmax row
is empty.
"""
import os
from functools import lru_cache
from typing import Iterable, Optional

import torch
import torch.nn.functional as F
from mmengine.logging import MMLogger
from mmengine.model import ModuleList
from mmpretrain.models.backbones.vision_transformer import \
    TransformerEncoderLayer
from mmpretrain.models.utils import MultiheadAttention
from torch import Tensor, nn

BACKENDS = ('auto', 'sdpa', 'math')
BACKEND_ENV = 'MIXMIM_ATTENTION'


def default_backend() -> str:
    """The policy new modules take: ``$MIXMIM_ATTENTION`` or ``'auto'``."""
    name = os.environ.get(BACKEND_ENV, 'auto')
    if name not in BACKENDS:
        raise ValueError(f'{BACKEND_ENV}={name!r} is not one of {BACKENDS}')
    return name


def backend_for(policy: str, q: Tensor) -> str:
    """The backend (``'sdpa'`` or ``'math'``) that ``policy`` picks for q."""
    if policy not in BACKENDS:
        raise ValueError(f'attention backend {policy!r} is not one of '
                         f'{BACKENDS}')
    if policy != 'auto':
        return policy
    cpu_training = q.device.type == 'cpu' and torch.is_grad_enabled()
    return 'math' if cpu_training else 'sdpa'


@lru_cache(maxsize=None)
def _announce(policy: str, backend: str, device: str,
              dtype: torch.dtype) -> None:
    """Log the first use of a backend to the run's logger (a runner's, named
    after the experiment). mmengine's fallback logger (``'mmengine'``,
    which any import may create) writes to a program's standard output, so
    a bare script gets nothing."""
    logger = MMLogger.get_current_instance()
    if logger.instance_name == 'mmengine':
        return
    logger.info(f'attention: policy {policy!r} runs {backend!r} on {device} '
                f'{str(dtype).replace("torch.", "")}')


def attend(q: Tensor,
           k: Tensor,
           v: Tensor,
           bias: Optional[Tensor] = None,
           allowed: Optional[Tensor] = None,
           dropout_p: float = 0.,
           scale: Optional[float] = None,
           policy: str = 'auto') -> Tensor:
    """``softmax(q k^T * scale + bias, -inf where not allowed) v``.

    Args:
        q, k, v: (..., N, d).
        bias: additive, broadcastable to (..., N, N) in q's dtype; or None.
        allowed: bool, broadcastable to (..., N, N), True where a query may
            attend a key; or None.
        dropout_p: attention dropout.
        scale: the logit scale; None means ``d ** -0.5``.
        policy: ``'auto'``, ``'sdpa'`` or ``'math'`` (module docstring).

    Returns:
        (..., N, d) in q's dtype.
    """
    backend = backend_for(policy, q)
    if not torch.compiler.is_compiling():  # logging is not traceable
        _announce(policy, backend, q.device.type, q.dtype)
    if backend == 'math':
        return _math_attention(q, k, v, bias, allowed, dropout_p, scale)
    if allowed is not None:
        if bias is None:
            bias = torch.zeros((), dtype=q.dtype, device=q.device)
        bias = bias.masked_fill(~allowed, float('-inf'))
    return F.scaled_dot_product_attention(
        q, k, v, attn_mask=bias, dropout_p=dropout_p, scale=scale)


def _math_attention(q: Tensor, k: Tensor, v: Tensor, bias: Optional[Tensor],
                    allowed: Optional[Tensor], dropout_p: float,
                    scale: Optional[float]) -> Tensor:
    """The product written out in q's dtype (autocast off, so a bf16 q stays
    bf16 instead of being upcast)."""
    scale = q.shape[-1]**-0.5 if scale is None else scale
    with torch.autocast(q.device.type, enabled=False):
        attn = torch.matmul(q * scale, k.transpose(-2, -1))
        if bias is not None:
            attn = attn + bias
        if allowed is not None:
            attn = attn.masked_fill_(~allowed, float('-inf'))
        attn = attn.softmax(dim=-1)
        if dropout_p:
            attn = F.dropout(attn, dropout_p)
        return torch.matmul(attn, v)


class Attention(MultiheadAttention):
    """mmpretrain's ``MultiheadAttention`` (same submodules, parameters and
    state-dict keys) whose product goes through :func:`attend` under the
    module's ``attn_backend`` policy.

    mmpretrain's transformer layers build their attention inside their
    constructors; :func:`use_plugin_attention` gives such layers this module,
    keeping their parameters.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.attn_backend = default_backend()

    @classmethod
    def adopt(cls, attn: MultiheadAttention) -> 'Attention':
        """An :class:`Attention` made of ``attn``'s own submodules."""
        if type(attn) is not MultiheadAttention:
            raise TypeError(f'cannot adopt a {type(attn).__name__}: only '
                            "mmpretrain's MultiheadAttention")
        with torch.device('meta'):  # the children are replaced below
            new = cls(
                attn.embed_dims,
                attn.num_heads,
                input_dims=attn.input_dims,
                attn_drop=attn.attn_drop,
                v_shortcut=attn.v_shortcut)
        for name, child in attn.named_children():
            setattr(new, name, child)
        return new

    def forward(self, x: Tensor) -> Tensor:
        """(B, N, C) -> (B, N, C)."""
        B, N, _ = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dims)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        drop = self.attn_drop if self.training else 0.
        x = attend(q, k, v, dropout_p=drop, policy=self.attn_backend)
        x = self.proj(x.transpose(1, 2).reshape(B, N, self.embed_dims))
        x = self.out_drop(self.gamma1(self.proj_drop(x)))
        return v.squeeze(1) + x if self.v_shortcut else x

    def extra_repr(self) -> str:
        return f'attn_backend={self.attn_backend!r}'


def use_plugin_attention(layers: Iterable[nn.Module]) -> None:
    """Give each of mmpretrain's ``TransformerEncoderLayer`` s the plugin's
    :class:`Attention` made of its own parameters."""
    for layer in layers:
        layer.attn = Attention.adopt(layer.attn)


def transformer_layers(depth: int, embed_dims: int, num_heads: int,
                       mlp_ratio: float, norm_cfg: dict) -> ModuleList:
    """``depth`` of mmpretrain's pre-norm ``TransformerEncoderLayer`` s
    (qkv bias, GELU MLP) with the plugin's :class:`Attention`: the decoder
    stacks of MixMIM and DropPos."""
    layers = ModuleList([
        TransformerEncoderLayer(
            embed_dims,
            num_heads,
            int(mlp_ratio * embed_dims),
            qkv_bias=True,
            norm_cfg=norm_cfg) for _ in range(depth)
    ])
    use_plugin_attention(layers)
    return layers
