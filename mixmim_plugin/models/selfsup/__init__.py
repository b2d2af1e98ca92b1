from .mixmim import MixMIMPretrainer

__all__ = ['MixMIMPretrainer']
