from .droppos_hierarchical import DropPosMixMIM
from .droppos_vit import DropPosViT
from .mixmim_encoder import MixMIMEncoder
from .mixmim_swin import MixMIMSwin
from .mixmim_vit import MixMIMViT

__all__ = [
    'MixMIMEncoder', 'MixMIMSwin', 'MixMIMViT', 'DropPosMixMIM', 'DropPosViT'
]
