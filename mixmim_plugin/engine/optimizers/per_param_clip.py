"""Gradient clipping per parameter tensor, as DropPos's authors clip.

mmengine's ``clip_grad=dict(max_norm=5.0)`` scales all gradients together
when their global norm exceeds 5. The DropPos authors' training loop clips
each parameter's gradient on its own: ``g *= min(1, 5 / (|g| + 1e-6))``.
The two differ whenever the global norm exceeds the limit but no single
tensor does (at DropPos ViT-B initialisation the global norm is about 9.4,
the largest tensor's 2.4: global clipping halves every gradient, the
authors' clips none). ``clip_grad=dict(type='per_param_norm', max_norm=5.0)``
selects the authors' rule in the plugin's optimizer wrappers.
"""
from typing import Iterable, Optional, Tuple

import torch
from mmengine.optim import OptimWrapper
from torch import Tensor

from mixmim_plugin.registry import OPTIM_WRAPPERS

PER_PARAM = 'per_param_norm'


@torch.no_grad()
def clip_grad_norm_per_param_(parameters: Iterable[Tensor],
                              max_norm: float,
                              eps: float = 1e-6) -> Tensor:
    """Scale each parameter's gradient by ``min(1, max_norm / (|g| + eps))``
    (L2 norm per tensor), in place.

    Returns:
        The global L2 norm of all gradients before clipping (what
        ``torch.nn.utils.clip_grad_norm_`` returns, so ``grad_norm`` logs
        mean the same under both rules).
    """
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.tensor(0.)
    norms = torch.stack([torch.linalg.vector_norm(g.float()) for g in grads])
    scales = (max_norm / (norms + eps)).clamp(max=1.0)
    for grad, scale in zip(grads, scales):
        grad.mul_(scale.to(grad.dtype))
    return torch.linalg.vector_norm(norms)


def split_clip_grad(clip_grad: Optional[dict]) -> Tuple[Optional[dict], bool]:
    """``clip_grad`` as mmengine's ``OptimWrapper`` accepts it, and whether
    it asked for ``type='per_param_norm'`` (then the wrapper replaces its
    clip function by :func:`clip_grad_norm_per_param_` after ``__init__``).
    """
    if clip_grad is None or clip_grad.get('type') != PER_PARAM:
        return clip_grad, False
    kwargs = {k: v for k, v in clip_grad.items() if k != 'type'}
    unknown = set(kwargs) - {'max_norm', 'eps'}
    if 'max_norm' not in kwargs or unknown:
        raise ValueError(
            f"clip_grad type '{PER_PARAM}' takes max_norm (required) and eps, "
            f'got {sorted(kwargs)}')
    return dict(kwargs, type='norm'), True


@OPTIM_WRAPPERS.register_module()
class PerParamClipOptimWrapper(OptimWrapper):
    """mmengine's ``OptimWrapper`` (fp32) that also takes
    ``clip_grad=dict(type='per_param_norm', max_norm=...)``.

    :class:`DeviceAmpOptimWrapper` takes the same clip type under AMP, where
    the gradients are unscaled before they are clipped.
    """

    def __init__(self,
                 *args,
                 clip_grad: Optional[dict] = None,
                 **kwargs) -> None:
        clip_grad, per_param = split_clip_grad(clip_grad)
        super().__init__(*args, clip_grad=clip_grad, **kwargs)
        if per_param:
            self.clip_func = clip_grad_norm_per_param_
