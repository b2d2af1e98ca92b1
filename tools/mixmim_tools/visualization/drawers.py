"""The registry of pictures: each method's drawing module registers its
drawer, so a new method adds its own module and nothing else changes."""
from dataclasses import dataclass
from typing import Callable, Dict, Sequence

import numpy as np
from torch import nn

# draw(model, data, mean, std) -> (H, W, 3) uint8; ``data`` is the model's
# preprocessed batch, mean / std its normalization (RGB)
Draw = Callable[[nn.Module, dict, Sequence[float], Sequence[float]],
                np.ndarray]


@dataclass(frozen=True)
class Drawer:
    """How to draw one kind of pretrainer.

    Attributes:
        model_type: the pretrainer class it draws (``isinstance``).
        name: the picture's file stem.
        draw: the drawing function.
        pairs: the method needs an even number of images (MixMIM's pairs).
    """
    model_type: type
    name: str
    draw: Draw
    pairs: bool = False


DRAWERS: Dict[str, Drawer] = {}


def register_drawer(method: str,
                    model_type: type,
                    name: str,
                    pairs: bool = False) -> Callable[[Draw], Draw]:
    """Decorator: register ``draw`` as the picture of ``model_type``."""

    def register(draw: Draw) -> Draw:
        if method in DRAWERS:
            raise KeyError(f'a drawer for {method!r} is registered already')
        DRAWERS[method] = Drawer(model_type, name, draw, pairs)
        return draw

    return register
