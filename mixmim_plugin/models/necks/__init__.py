from .mixmim_decoder import MixMIMDualDecoder

__all__ = ['MixMIMDualDecoder']
