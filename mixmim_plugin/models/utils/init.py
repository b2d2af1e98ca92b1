"""Weight initialisation shared by the MixMIM models."""
from torch import nn


def init_linear_and_norm(module: nn.Module) -> None:
    """Xavier-uniform linears with zero bias, unit LayerNorms (the authors'
    and mmpretrain's MixMIM initialisation); use with ``module.apply``."""
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
