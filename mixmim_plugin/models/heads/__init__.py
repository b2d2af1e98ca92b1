from .mixmim_head import MixMIMDualHead

__all__ = ['MixMIMDualHead']
