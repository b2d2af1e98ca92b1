"""Frozen-feature evaluation: pooling, feature extraction, k-NN and linear
probe on synthetic features with a known answer."""
import os.path as osp

import pytest
import torch
from torch import nn

from mixmim_tools.evaluation import (accuracy, extract_features,
                                     image_folder_dataset, knn_accuracy,
                                     knn_classify, linear_probe_accuracy,
                                     pool_features, train_linear_probe)

NUM_CLASSES = 10


def blobs(num_per_class: int,
          dim: int = 32,
          spread: float = 0.3,
          seed: int = 0):
    """Gaussian blobs around random unit centres: separable classes."""
    generator = torch.Generator().manual_seed(seed)
    centres = torch.nn.functional.normalize(
        torch.randn(
            NUM_CLASSES, dim, generator=torch.Generator().manual_seed(123)),
        dim=1)
    labels = torch.arange(NUM_CLASSES).repeat_interleave(num_per_class)
    noise = torch.randn(labels.numel(), dim, generator=generator)
    return centres[labels] + spread * noise / dim**0.5, labels


def noise_features(num_per_class: int, dim: int = 32, seed: int = 0):
    """Features independent of the labels: chance-level classes."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(NUM_CLASSES).repeat_interleave(num_per_class)
    return torch.randn(labels.numel(), dim, generator=generator), labels


def test_pool_features_shapes():
    assert pool_features(torch.ones(2, 5, 3, 3)).shape == (2, 5)
    assert pool_features((torch.zeros(2, 1), torch.ones(2, 7,
                                                        5))).shape == (2, 5)
    vec = torch.randn(2, 5)
    assert torch.equal(pool_features((vec, )), vec)
    maps = torch.arange(8.).view(1, 2, 2, 2)
    assert torch.equal(pool_features(maps), torch.tensor([[1.5, 5.5]]))
    with pytest.raises(ValueError, match='cannot pool'):
        pool_features(torch.ones(2))


def test_knn_hand_example():
    """Two classes on a circle; the weighted vote can beat the majority."""
    train = torch.tensor([[1., 0.], [0.9, 0.1], [0., 1.], [0.1, 0.9],
                          [0.2, 0.8]])
    labels = torch.tensor([0, 0, 1, 1, 1])
    test = torch.tensor([[1., 0.05], [0.05, 1.]])
    assert knn_classify(train, labels, test, k=1).tolist() == [0, 1]
    # k = 5: three class-1 votes vs two class-0 votes, but the class-0
    # neighbours of the first point are far more similar
    assert knn_classify(
        train, labels, test, k=5, temperature=0.05).tolist() == [0, 1]
    # with a huge temperature every vote weighs the same: majority wins
    assert knn_classify(
        train, labels, test, k=5, temperature=1e4).tolist() == [1, 1]


def test_knn_separable_and_random():
    train_x, train_y = blobs(50, seed=0)
    test_x, test_y = blobs(30, seed=1)
    assert knn_accuracy(train_x, train_y, test_x, test_y, k=10) > 0.95
    noise_x, noise_y = noise_features(50, seed=0)
    noise_test_x, noise_test_y = noise_features(30, seed=1)
    acc = knn_accuracy(noise_x, noise_y, noise_test_x, noise_test_y, k=10)
    assert acc < 0.25  # chance is 0.1


def test_knn_chunks_do_not_change_the_answer():
    train_x, train_y = blobs(20, seed=0)
    test_x, _ = blobs(13, seed=1)
    whole = knn_classify(train_x, train_y, test_x, k=7)
    chunked = knn_classify(train_x, train_y, test_x, k=7, chunk_size=4)
    assert torch.equal(whole, chunked)


def test_linear_probe_separable_and_random():
    train_x, train_y = blobs(50, seed=0)
    test_x, test_y = blobs(30, seed=1)
    assert linear_probe_accuracy(train_x, train_y, test_x, test_y) > 0.95
    # mini-batches reach the same quality
    assert linear_probe_accuracy(
        train_x, train_y, test_x, test_y, batch_size=64, epochs=30) > 0.95
    noise_x, noise_y = noise_features(50, seed=0)
    noise_test_x, noise_test_y = noise_features(30, seed=1)
    acc = linear_probe_accuracy(noise_x, noise_y, noise_test_x, noise_test_y)
    assert acc < 0.25


def test_linear_probe_is_deterministic():
    x, y = blobs(10)
    a = train_linear_probe(x, y, epochs=5, seed=3)
    b = train_linear_probe(x, y, epochs=5, seed=3)
    assert torch.equal(a.fc.weight, b.fc.weight)


def test_bad_inputs():
    x, y = blobs(2)
    with pytest.raises(ValueError, match='k must be in'):
        knn_classify(x, y, x, k=0)
    with pytest.raises(ValueError, match='k must be in'):
        knn_classify(x, y, x, k=x.shape[0] + 1)
    with pytest.raises(ValueError, match='temperature'):
        knn_classify(x, y, x, temperature=0)
    with pytest.raises(ValueError, match='labels'):
        knn_classify(x, y[:-1], x, k=1)
    with pytest.raises(ValueError, match='epochs and lr'):
        train_linear_probe(x, y, lr=0)
    with pytest.raises(ValueError, match='predictions'):
        accuracy(torch.zeros(3), torch.zeros(4))


class _MeanColour(nn.Module):
    """A 'backbone' whose (B, 3, 1, 1) output is the mean colour."""

    def __init__(self):
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return (x.mean(dim=(2, 3), keepdim=True) + self.anchor, )


def test_extract_features_on_image_folder(embedded_data):
    """Embedded ImageNet classes have distinct hues: the mean colour of the
    centre crop already separates most of them."""
    root = embedded_data['imagenet']
    train = image_folder_dataset(osp.join(root, 'train'), img_size=32)
    val = image_folder_dataset(osp.join(root, 'val'), img_size=32)
    backbone = _MeanColour().train()
    val_x, val_y = extract_features(backbone, val, batch_size=64)
    assert backbone.training  # mode restored
    assert val_x.shape == (len(val), 3) and val_x.dtype == torch.float32
    assert val_y.tolist() == [val.get_gt_labels()[i] for i in range(len(val))]
    assert sorted(set(val_y.tolist())) == list(range(NUM_CLASSES))
    train_x, train_y = extract_features(backbone, train, batch_size=128)
    assert knn_accuracy(train_x, train_y, val_x, val_y, k=10) > 0.3
