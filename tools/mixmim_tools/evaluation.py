"""Evaluation of frozen features: pooled backbone features of a dataset,
weighted k-NN classification and a linear probe (logistic regression).

Typical use::

    train = image_folder_dataset('data/imagenet/train', img_size=224)
    val = image_folder_dataset('data/imagenet/val', img_size=224)
    train_x, train_y = extract_features(model.backbone, train)
    val_x, val_y = extract_features(model.backbone, val)
    knn_accuracy(train_x, train_y, val_x, val_y, k=20)
    linear_probe_accuracy(train_x, train_y, val_x, val_y)
"""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.dataset import BaseDataset, default_collate
from mmpretrain.datasets import CustomDataset
from mmpretrain.models.utils import ClsDataPreprocessor
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


def eval_pipeline(img_size: int, resize_size: Optional[int] = None) -> list:
    """Resize the short side to ``resize_size`` (default: img_size * 8 / 7,
    the 256/224 ratio), center crop ``img_size``, pack."""
    resize_size = resize_size or round(img_size * 256 / 224)
    return [
        dict(type='LoadImageFromFile'),
        dict(
            type='ResizeEdge',
            scale=resize_size,
            edge='short',
            backend='pillow',
            interpolation='bilinear'),
        dict(type='CenterCrop', crop_size=img_size),
        dict(type='PackInputs'),
    ]


def image_folder_dataset(root: str,
                         img_size: int = 224,
                         resize_size: Optional[int] = None) -> BaseDataset:
    """Labelled images ``root/<class>/<image>`` (classes in sorted folder
    order) with :func:`eval_pipeline`."""
    return CustomDataset(
        data_root=root,
        with_label=True,
        pipeline=eval_pipeline(img_size, resize_size))


def pool_features(output: Union[Tensor, Sequence[Tensor]]) -> Tensor:
    """A backbone output (a tensor or a tuple whose last element is used) to
    (B, C): (B, C, H, W) maps and (B, L, C) tokens are averaged, (B, C)
    vectors are kept."""
    if not isinstance(output, Tensor):
        output = output[-1]
    if output.dim() == 4:
        return output.mean(dim=(2, 3))
    if output.dim() == 3:
        return output.mean(dim=1)
    if output.dim() == 2:
        return output
    raise ValueError('cannot pool a backbone output of shape '
                     f'{tuple(output.shape)}; expected (B, C), (B, L, C) or '
                     '(B, C, H, W)')


@torch.no_grad()
def extract_features(backbone: nn.Module,
                     dataset: Dataset,
                     batch_size: int = 64,
                     mean: Sequence[float] = IMAGENET_MEAN,
                     std: Sequence[float] = IMAGENET_STD,
                     to_rgb: bool = True,
                     num_workers: int = 0) -> Tuple[Tensor, Tensor]:
    """Pooled features of ``backbone`` (in eval mode, restored afterwards)
    over ``dataset``, whose items are ``PackInputs`` dicts with labels.

    Images are normalized with ``mean``/``std`` (after BGR -> RGB when
    ``to_rgb``) on the backbone's device.

    Returns:
        (N, C) float32 features and (N,) int64 labels, in dataset order, on
        the CPU.
    """
    device = next(backbone.parameters()).device
    preprocessor = ClsDataPreprocessor(
        mean=mean, std=std, to_rgb=to_rgb).to(device)
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=default_collate)
    was_training = backbone.training
    backbone.eval()
    features, labels = [], []
    try:
        for batch in loader:
            data = preprocessor(batch, training=False)
            features.append(
                pool_features(backbone(data['inputs'])).float().cpu())
            labels.append(
                torch.cat([s.gt_label for s in data['data_samples']]).cpu())
    finally:
        backbone.train(was_training)
    if not features:
        raise ValueError('the dataset is empty')
    return torch.cat(features), torch.cat(labels).long()


def _check_pair(features: Tensor, labels: Tensor, name: str) -> None:
    if features.dim() != 2 or labels.dim() != 1:
        raise ValueError(f'{name}: expected (N, C) features and (N,) labels, '
                         f'got {tuple(features.shape)} and '
                         f'{tuple(labels.shape)}')
    if features.shape[0] != labels.shape[0]:
        raise ValueError(f'{name}: {features.shape[0]} features but '
                         f'{labels.shape[0]} labels')
    if features.shape[0] == 0:
        raise ValueError(f'{name}: no samples')


def accuracy(predictions: Tensor, labels: Tensor) -> float:
    """Fraction of (N,) predictions equal to the (N,) labels."""
    if predictions.shape != labels.shape:
        raise ValueError(f'{tuple(predictions.shape)} predictions for '
                         f'{tuple(labels.shape)} labels')
    return (predictions == labels).float().mean().item()


@torch.no_grad()
def knn_classify(train_features: Tensor,
                 train_labels: Tensor,
                 test_features: Tensor,
                 k: int = 20,
                 temperature: float = 0.07,
                 num_classes: Optional[int] = None,
                 chunk_size: int = 1024) -> Tensor:
    """Weighted k-NN on cosine similarity (as in InstDisc and DINO).

    Each test feature takes its k most similar (N, C) train features; a
    neighbour with similarity s votes for its label with weight
    exp(s / temperature).

    Returns:
        (M,) predicted labels of the (M, C) test features.
    """
    _check_pair(train_features, train_labels, 'train')
    if not 0 < k <= train_features.shape[0]:
        raise ValueError(f'k must be in [1, {train_features.shape[0]}] (the '
                         f'number of train features), got {k}')
    if temperature <= 0:
        raise ValueError(f'temperature must be positive, got {temperature}')
    num_classes = num_classes or int(train_labels.max()) + 1
    bank = F.normalize(train_features.float(), dim=1)
    predictions = []
    for chunk in F.normalize(test_features.float(), dim=1).split(chunk_size):
        sims, index = (chunk @ bank.t()).topk(k, dim=1)
        votes = torch.zeros(chunk.shape[0], num_classes)
        votes.scatter_add_(1, train_labels[index], (sims / temperature).exp())
        predictions.append(votes.argmax(dim=1))
    return torch.cat(predictions)


def knn_accuracy(train_features: Tensor, train_labels: Tensor,
                 test_features: Tensor, test_labels: Tensor,
                 **kwargs) -> float:
    """Top-1 accuracy of :func:`knn_classify` (same keyword arguments)."""
    _check_pair(test_features, test_labels, 'test')
    return accuracy(
        knn_classify(train_features, train_labels, test_features, **kwargs),
        test_labels)


class LinearProbe(nn.Module):
    """Standardization with fixed train statistics, then a linear layer:
    (N, C) features -> (N, num_classes) logits."""

    def __init__(self, mean: Tensor, std: Tensor, num_classes: int) -> None:
        super().__init__()
        self.register_buffer('mean', mean)
        self.register_buffer('std', std)
        self.fc = nn.Linear(mean.numel(), num_classes)

    def forward(self, features: Tensor) -> Tensor:
        return self.fc((features.float() - self.mean) / self.std)


def train_linear_probe(features: Tensor,
                       labels: Tensor,
                       num_classes: Optional[int] = None,
                       epochs: int = 100,
                       lr: float = 0.01,
                       weight_decay: float = 1e-4,
                       batch_size: Optional[int] = None,
                       seed: int = 0) -> LinearProbe:
    """Multinomial logistic regression on frozen (N, C) features, trained
    with Adam on the cross entropy (full batch unless ``batch_size``);
    deterministic for a ``seed``."""
    _check_pair(features, labels, 'train')
    if epochs <= 0 or lr <= 0:
        raise ValueError(f'epochs and lr must be positive, got {epochs} and '
                         f'{lr}')
    generator = torch.Generator().manual_seed(seed)
    features = features.float()
    num_classes = num_classes or int(labels.max()) + 1
    probe = LinearProbe(
        features.mean(dim=0),
        features.std(dim=0).clamp_min(1e-6), num_classes)
    with torch.no_grad():
        bound = probe.fc.in_features**-0.5
        probe.fc.weight.uniform_(-bound, bound, generator=generator)
        probe.fc.bias.zero_()
    optimizer = torch.optim.Adam(
        probe.parameters(), lr=lr, weight_decay=weight_decay)
    batch_size = batch_size or features.shape[0]
    for _ in range(epochs):
        order = torch.randperm(features.shape[0], generator=generator)
        for index in order.split(batch_size):
            loss = F.cross_entropy(probe(features[index]), labels[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return probe.eval()


def linear_probe_accuracy(train_features: Tensor, train_labels: Tensor,
                          test_features: Tensor, test_labels: Tensor,
                          **kwargs) -> float:
    """Top-1 accuracy on the test features of :func:`train_linear_probe`
    (same keyword arguments) fitted on the train features."""
    _check_pair(test_features, test_labels, 'test')
    probe = train_linear_probe(train_features, train_labels, **kwargs)
    with torch.no_grad():
        predictions = probe(test_features).argmax(dim=1)
    return accuracy(predictions, test_labels)
