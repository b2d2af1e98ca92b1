from .checked_swin import CheckedDetSwinTransformer, CheckedSegSwinTransformer
from .droppos_hierarchical import DropPosMixMIM
from .droppos_vit import DropPosViT
from .mixmim_encoder import MixMIMEncoder
from .mixmim_swin import MixMIMSwin
from .mixmim_vit import MixMIMViT
from .moby_swin import MoBYSwinTransformer, TokenBatchNorm

__all__ = [
    'MixMIMEncoder', 'MixMIMSwin', 'MixMIMViT', 'DropPosMixMIM', 'DropPosViT',
    'MoBYSwinTransformer', 'TokenBatchNorm', 'CheckedDetSwinTransformer',
    'CheckedSegSwinTransformer'
]
