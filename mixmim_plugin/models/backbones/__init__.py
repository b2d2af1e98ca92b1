from .mixmim_encoder import MixMIMEncoder

__all__ = ['MixMIMEncoder']
