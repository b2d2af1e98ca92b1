"""MoBY: MoCo v2's key queues and BYOL's predictor and momentum schedule for
vision transformers (`arXiv:2105.04553 <https://arxiv.org/abs/2105.04553>`_).
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.dist import all_gather
from mmengine.logging import MessageHub, print_log
from mmengine.model import ExponentialMovingAverage
from mmpretrain.models.selfsup import BaseSelfSupervisor
from mmpretrain.structures import DataSample
from torch import Tensor, nn

from mixmim_plugin.registry import MODELS
from ..utils.sync_bn import PortableSyncBatchNorm

NUM_VIEWS = 2
QUEUE_SEED = 0


def moby_momentum(k: int, total: int, base: float) -> float:
    """Target momentum at iteration ``k`` of ``total``:
    ``1 - (1 - base) * (cos(pi * k / total) + 1) / 2``, from ``base`` at
    k = 0 to 1 at k = total (k is clamped to [0, total])."""
    if total <= 0:
        raise ValueError(f'the total number of iterations must be positive, '
                         f'got {total}')
    k = min(max(k, 0), total)
    return 1.0 - (1.0 - base) * (math.cos(math.pi * k / total) + 1.0) / 2.0


class MomentumTarget(ExponentialMovingAverage):
    """MoBY's target branch, updated as the authors update it.

    Every update, from the first on, blends the parameters only:
    ``target = m * target + (1 - m) * online`` (``momentum`` keeps mmengine's
    meaning, the weight of the online side: 1 - m). mmengine's
    ``ExponentialMovingAverage`` differs twice: its first update copies the
    online weights (which would discard a target loaded from a checkpoint,
    e.g. one converted from the authors'), and it copies the online buffers
    at every update, so the target's BatchNorm running statistics would be
    the online projector's; here they stay the target's own, accumulated by
    its forward passes. Same state-dict layout (``module.*``, ``steps``).
    """

    @torch.no_grad()
    def update_parameters(self, model: nn.Module) -> None:
        online = dict(model.named_parameters())
        for name, target in self.module.named_parameters():
            target.lerp_(online[name].to(target.device), self.momentum)
        self.steps += 1


@MODELS.register_module()
class MoBY(BaseSelfSupervisor):
    """MoBY self-supervised pretraining.

    Online branch: ``backbone`` -> ``neck`` (projector) -> ``predictor``;
    target branch: a copy of backbone and projector, updated only as an
    exponential moving average of the online one. The loss is
    ``L(q1, k2, queue2) + L(q2, k1, queue1)``, each an InfoNCE over the
    L2-normalized prediction q of one view, the target key k of the other
    view and the queue of past keys of that other view (``head``, usually
    ``ContrastiveHead`` with temperature 0.2). After the loss, the keys of
    all processes are gathered and enqueued, so every process holds the same
    queues (the sampler must drop the last incomplete batch).

    The target keeps ``m`` of itself per iteration k of K:
    ``m = 1 - (1 - base_momentum) * (cos(pi k / K) + 1) / 2``. k counts the
    target updates (checkpointed with the model); K is the runner's
    ``max_iters`` (MessageHub info). m is returned as ``momentum`` in the
    loss dict, so it is logged but not optimized.

    Args:
        backbone: encoder config; built twice, with
            ``drop_path_rate=online_drop_path_rate`` (online) and
            ``target_drop_path_rate`` (target). Its output goes to the neck.
        neck: projector config (C -> 4096 -> ``feat_dim``), e.g.
            ``NonLinearNeck`` without last BN.
        head: contrastive head with ``loss(pos (B, 1), neg (B, L))``.
        predictor: predictor config (``feat_dim`` -> 4096 -> ``feat_dim``).
        queue_len: keys per queue (one queue per view).
        feat_dim: dimension of the projected keys.
        base_momentum: target momentum at the first iteration, in (0, 1).
        online_drop_path_rate: stochastic depth of the online encoder.
        target_drop_path_rate: stochastic depth of the target encoder.
        sync_bn: replace every BatchNorm layer by
            :class:`PortableSyncBatchNorm` (statistics over all processes,
            also on the CPU).
        pretrained: checkpoint to initialize the whole model from.
        data_preprocessor: usually ``SelfSupDataPreprocessor``.
        init_cfg: initialization config.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 predictor: dict,
                 queue_len: int = 4096,
                 feat_dim: int = 256,
                 base_momentum: float = 0.99,
                 online_drop_path_rate: float = 0.2,
                 target_drop_path_rate: float = 0.0,
                 sync_bn: bool = True,
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        self._check_args(backbone, queue_len, feat_dim, base_momentum,
                         online_drop_path_rate, target_drop_path_rate)
        super().__init__(
            backbone=dict(backbone, drop_path_rate=online_drop_path_rate),
            neck=neck,
            head=head,
            pretrained=pretrained,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        temperature = getattr(self.head, 'temperature', None)
        if temperature is not None and not temperature > 0:
            raise ValueError(
                f'the temperature of the head must be positive, got '
                f'{temperature}')
        self.predictor = MODELS.build(predictor)
        self.base_momentum = base_momentum
        self.queue_len = queue_len
        self.feat_dim = feat_dim
        target = nn.Sequential(
            MODELS.build(dict(backbone, drop_path_rate=target_drop_path_rate)),
            MODELS.build(neck))
        if sync_bn:
            self._convert_sync_bn(target)
        self.target = MomentumTarget(target, momentum=1.0 - base_momentum)
        self.copy_online_to_target()
        self.register_buffer('queues', self._initial_queues())
        self.register_buffer('queue_ptr', torch.zeros(1, dtype=torch.long))

    @staticmethod
    def _check_args(backbone: dict, queue_len: int, feat_dim: int,
                    base_momentum: float, online_drop_path_rate: float,
                    target_drop_path_rate: float) -> None:
        if not isinstance(backbone, dict):
            raise TypeError('MoBY builds the online and the target encoder '
                            'from one backbone config dict, got '
                            f'{type(backbone).__name__}')
        if 'drop_path_rate' in backbone:
            raise ValueError(
                'set online_drop_path_rate and target_drop_path_rate of MoBY '
                'instead of drop_path_rate in the backbone config')
        if not (isinstance(queue_len, int) and queue_len > 0):
            raise ValueError(
                f'queue_len must be a positive integer, got {queue_len!r}')
        if not (isinstance(feat_dim, int) and feat_dim > 0):
            raise ValueError(
                f'feat_dim must be a positive integer, got {feat_dim!r}')
        if not 0.0 < base_momentum < 1.0:
            raise ValueError(
                f'base_momentum must be in (0, 1), got {base_momentum}')
        for name, rate in (('online', online_drop_path_rate),
                           ('target', target_drop_path_rate)):
            if not 0.0 <= rate < 1.0:
                raise ValueError(
                    f'{name}_drop_path_rate must be in [0, 1), got {rate}')

    def _convert_sync_bn(self, target: nn.Module) -> None:
        """Synchronise every BatchNorm of the online and target branches."""
        modules = (self.backbone, self.neck, self.predictor, target)
        count = sum(
            isinstance(m, nn.modules.batchnorm._BatchNorm)
            for module in modules for m in module.modules())
        for module in modules:
            PortableSyncBatchNorm.convert(module)
        print_log(
            f'MoBY: {count} BatchNorm layers use PortableSyncBatchNorm '
            '(statistics over all processes, also with gloo on CPUs)',
            'current')

    def _initial_queues(self) -> Tensor:
        """(2, queue_len, feat_dim) random unit keys, the same in every
        process (DDP with broadcast_buffers=False does not sync buffers)."""
        generator = torch.Generator().manual_seed(QUEUE_SEED)
        keys = torch.randn(
            NUM_VIEWS, self.queue_len, self.feat_dim, generator=generator)
        return F.normalize(keys, dim=2)

    # -------------------------------------------------------------- target
    def online_encoder(self) -> nn.Sequential:
        """The online backbone and projector, as the target's layout."""
        return nn.Sequential(self.backbone, self.neck)

    @torch.no_grad()
    def copy_online_to_target(self) -> None:
        """Make the target an exact copy of the online encoder."""
        self.target.module.load_state_dict(self.online_encoder().state_dict())

    def init_weights(self) -> None:
        super().init_weights()
        if not (isinstance(self.init_cfg, dict)
                and self.init_cfg.get('type') == 'Pretrained'):
            self.copy_online_to_target()

    @staticmethod
    def total_iters() -> int:
        """K: the runner's ``max_iters`` from the MessageHub."""
        total = MessageHub.get_current_instance().get_info('max_iters')
        if total is None:
            raise RuntimeError(
                "MoBY's momentum schedule needs the total number of "
                "training iterations, which the runner publishes as the "
                "MessageHub info 'max_iters'; outside a runner call "
                "MessageHub.get_current_instance().update_info('max_iters', "
                'K) first')
        return int(total)

    @torch.no_grad()
    def momentum_update(self) -> float:
        """Move the target towards the online encoder with the momentum of
        the current iteration; returns that momentum."""
        momentum = moby_momentum(
            int(self.target.steps), self.total_iters(), self.base_momentum)
        self.target.momentum = 1.0 - momentum
        self.target.update_parameters(self.online_encoder())
        return momentum

    # --------------------------------------------------------------- queue
    @torch.no_grad()
    def enqueue(self, keys: Tensor) -> None:
        """Write (2, N, feat_dim) keys (view 1, view 2) at the queue
        pointer, overwriting the oldest keys and wrapping around."""
        num, dim = keys.shape[1:]
        if dim != self.feat_dim:
            raise ValueError(f'keys of dimension {dim} do not fit queues of '
                             f'feat_dim={self.feat_dim}')
        if num > self.queue_len:
            raise ValueError(
                f'{num} keys per view (the global batch) do not fit in a '
                f'queue of {self.queue_len}: use queue_len >= the batch '
                'size times the number of processes')
        ptr = int(self.queue_ptr)
        index = (ptr + torch.arange(num, device=keys.device)) % self.queue_len
        self.queues[:, index.to(self.queues.device)] = keys.to(self.queues)
        self.queue_ptr[0] = (ptr + num) % self.queue_len

    @torch.no_grad()
    def dequeue_and_enqueue(self, key1: Tensor, key2: Tensor) -> None:
        """Gather the (B, feat_dim) keys of both views from all processes
        (rank order) and enqueue them."""
        gathered = [torch.cat(all_gather(key), dim=0) for key in (key1, key2)]
        self.enqueue(torch.stack(gathered))

    # ---------------------------------------------------------------- loss
    def contrastive_loss(self, query: Tensor, key: Tensor,
                         queue: Tensor) -> Tensor:
        """InfoNCE of (B, D) unit queries against their (B, D) unit keys
        (positives) and the (L, D) queue (negatives), in float32."""
        with torch.autocast(device_type=query.device.type, enabled=False):
            query = query.float()
            pos = (query * key.float()).sum(dim=1, keepdim=True)
            neg = query @ queue.float().t()
            return self.head.loss(pos, neg)

    def predict_query(self, view: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, feat_dim) unit online predictions."""
        proj = self.neck(self.backbone(view))
        return F.normalize(self.predictor(proj)[0].float(), dim=1)

    @torch.no_grad()
    def target_key(self, view: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, feat_dim) unit target projections."""
        return F.normalize(self.target(view)[0].float(), dim=1)

    @staticmethod
    def two_views(inputs) -> Tuple[Tensor, Tensor]:
        """Check that ``inputs`` are two (B, C, H, W) views."""
        if isinstance(inputs, Tensor) or not isinstance(inputs, Sequence):
            got = (f'one tensor of shape {tuple(inputs.shape)}' if isinstance(
                inputs, Tensor) else type(inputs).__name__)
            raise ValueError(
                f'MoBY needs two augmented views of every image, got {got}: '
                "wrap the train pipeline's augmentations in dict(type="
                "'MultiView', num_views=[1, 1], transforms=[view1, view2])")
        if len(inputs) != NUM_VIEWS:
            raise ValueError(
                f'MoBY needs exactly {NUM_VIEWS} views of every image, got '
                f'{len(inputs)}: use MultiView with num_views=[1, 1]')
        if inputs[0].shape[0] != inputs[1].shape[0]:
            raise ValueError('the two views have different batch sizes: '
                             f'{inputs[0].shape[0]} and {inputs[1].shape[0]}')
        return inputs[0], inputs[1]

    def loss(self, inputs: List[Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, Tensor]:
        """Symmetric MoBY loss of two lists of (B, C, H, W) views; also
        returns the iteration's target ``momentum`` (logged only)."""
        view1, view2 = self.two_views(inputs)
        query1, query2 = self.predict_query(view1), self.predict_query(view2)
        momentum = self.momentum_update()
        key1, key2 = self.target_key(view1), self.target_key(view2)
        queues = self.queues.clone()
        loss = (
            self.contrastive_loss(query1, key2, queues[1]) +
            self.contrastive_loss(query2, key1, queues[0]))
        self.dequeue_and_enqueue(key1, key2)
        return dict(loss=loss, momentum=loss.new_tensor(momentum))
