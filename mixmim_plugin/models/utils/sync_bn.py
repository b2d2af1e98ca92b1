"""Batch normalization synchronised across processes on any device.

``torch.nn.SyncBatchNorm`` cannot serve a multi-process run on CPUs: its
forward raises ``ValueError: SyncBatchNorm expected input tensor to be on
GPU``, and DistributedDataParallel refuses CPU modules that contain it
(``SyncBatchNorm layers only work with GPU modules``). MoBY's projector and
predictor need statistics over the global batch (the authors'
``convert_sync_batchnorm``), so :class:`PortableSyncBatchNorm` all-reduces
the statistics itself, with the process group's backend (gloo on CPUs, NCCL
on GPUs).
"""
import torch
import torch.distributed as torch_dist
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from mixmim_plugin.registry import MODELS


class _DifferentiableAllReduce(torch.autograd.Function):
    """Sum over processes; the gradient is summed over processes too (each
    rank's loss depends on every rank's contribution)."""

    @staticmethod
    def forward(ctx, tensor: Tensor, group) -> Tensor:
        ctx.group = group
        tensor = tensor.clone()
        torch_dist.all_reduce(tensor, group=group)
        return tensor

    @staticmethod
    def backward(ctx, grad: Tensor):
        grad = grad.clone()
        torch_dist.all_reduce(grad, group=ctx.group)
        return grad, None


def all_reduce_sum(tensor: Tensor, group=None) -> Tensor:
    """Differentiable sum of ``tensor`` over the processes of ``group``."""
    return _DifferentiableAllReduce.apply(tensor, group)


@MODELS.register_module()
class PortableSyncBatchNorm(_BatchNorm):
    """BatchNorm whose training statistics span all processes.

    In training mode with more than one process, the mean and the (biased)
    variance are computed over the global batch with two differentiable
    all-reduces (sum, then sum of squared deviations), so the output and the
    gradients equal those of one BatchNorm over the concatenated batch (the
    parameter gradients are each process's share; DDP sums them). Otherwise
    (one process, evaluation mode) it is a plain BatchNorm. All processes
    must call the layer the same number of times, as with torch's
    ``SyncBatchNorm``; the per-process batch sizes may differ.

    Accepts (N, C) and (N, C, *) inputs; statistics are per channel C.

    Args:
        process_group: the group to synchronise over; the default group when
            None. Other arguments as ``torch.nn.BatchNorm1d``.
    """

    def __init__(self,
                 num_features: int,
                 eps: float = 1e-5,
                 momentum: float = 0.1,
                 affine: bool = True,
                 track_running_stats: bool = True,
                 process_group=None,
                 device=None,
                 dtype=None) -> None:
        super().__init__(num_features, eps, momentum, affine,
                         track_running_stats, device, dtype)
        self.process_group = process_group

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() < 2:
            raise ValueError('expected an (N, C) or (N, C, *) input, got '
                             f'{input.dim()}D')

    def forward(self, input: Tensor) -> Tensor:
        if self._needs_sync():
            return self._sync_forward(input)
        return super().forward(input)

    def _group(self):
        return self.process_group or torch_dist.group.WORLD

    def _needs_sync(self) -> bool:
        return (self.training and torch_dist.is_available()
                and torch_dist.is_initialized()
                and torch_dist.get_world_size(self._group()) > 1)

    def _sync_forward(self, input: Tensor) -> Tensor:
        self._check_input_dim(input)
        group = self._group()
        x = input.float()
        dims = [0] + list(range(2, x.dim()))
        shape = [1, -1] + [1] * (x.dim() - 2)
        local_count = x.new_tensor([x.numel() / x.shape[1]])
        sums = all_reduce_sum(torch.cat([x.sum(dims), local_count]), group)
        count = sums[-1].detach()
        if count < 2:
            raise ValueError(
                'PortableSyncBatchNorm needs more than one value '
                f'per channel over all processes, got {int(count)}')
        mean = sums[:-1] / count
        centered = x - mean.view(shape)
        var = all_reduce_sum((centered * centered).sum(dims), group) / count
        out = centered * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        self._update_running_stats(mean.detach(), var.detach(), count)
        return out.to(input.dtype)

    @torch.no_grad()
    def _update_running_stats(self, mean: Tensor, var: Tensor,
                              count: Tensor) -> None:
        if not self.track_running_stats:
            return
        self.num_batches_tracked.add_(1)
        factor = (1.0 / float(self.num_batches_tracked)
                  if self.momentum is None else self.momentum)
        unbiased = var * count / (count - 1)
        self.running_mean.lerp_(mean.to(self.running_mean.dtype), factor)
        self.running_var.lerp_(unbiased.to(self.running_var.dtype), factor)

    @classmethod
    def convert(cls, module: nn.Module, process_group=None) -> nn.Module:
        """Replace every BatchNorm layer of ``module`` (torch's BatchNorm*d
        and SyncBatchNorm included) in place by a
        :class:`PortableSyncBatchNorm` with the same parameters and buffers;
        returns the converted module (a new one if ``module`` itself is a
        BatchNorm)."""
        if isinstance(module, _BatchNorm) and not isinstance(module, cls):
            return cls._from_batch_norm(module, process_group)
        for name, child in module.named_children():
            converted = cls.convert(child, process_group)
            if converted is not child:
                setattr(module, name, converted)
        return module

    @classmethod
    def _from_batch_norm(cls, bn: _BatchNorm,
                         process_group) -> 'PortableSyncBatchNorm':
        tensors = list(bn.parameters()) + list(bn.buffers())
        new = cls(
            bn.num_features,
            bn.eps,
            bn.momentum,
            bn.affine,
            bn.track_running_stats,
            process_group,
            device=tensors[0].device if tensors else None)
        new.load_state_dict(bn.state_dict())
        new.train(bn.training)
        return new
