"""Evaluation helpers (plain functions; nothing is registered)."""
from .feature_eval import (IMAGENET_MEAN, IMAGENET_STD, LinearProbe, accuracy,
                           eval_pipeline, extract_features,
                           image_folder_dataset, knn_accuracy, knn_classify,
                           linear_probe_accuracy, pool_features,
                           train_linear_probe)

__all__ = [
    'IMAGENET_MEAN', 'IMAGENET_STD', 'LinearProbe', 'accuracy',
    'eval_pipeline', 'extract_features', 'image_folder_dataset',
    'knn_accuracy', 'knn_classify', 'linear_probe_accuracy', 'pool_features',
    'train_linear_probe'
]
