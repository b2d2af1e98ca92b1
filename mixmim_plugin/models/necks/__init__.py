from .droppos_decoder import DropPosDecoder
from .mixmim_decoder import MixMIMDualDecoder
from .simple_feature_pyramid import SimpleFeaturePyramid

__all__ = ['MixMIMDualDecoder', 'DropPosDecoder', 'SimpleFeaturePyramid']
