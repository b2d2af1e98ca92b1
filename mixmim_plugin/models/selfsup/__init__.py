from .droppos import DropPos
from .mixmim import MixMIMPretrainer
from .moby import MoBY, moby_momentum

__all__ = ['MixMIMPretrainer', 'MoBY', 'moby_momentum', 'DropPos']
