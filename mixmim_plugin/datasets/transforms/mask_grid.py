"""What both mask transforms do with an image's size: check it against the
expected input size and cut it into the mask's grid of units."""
from typing import Optional, Tuple, Union

Size = Tuple[int, int]


def as_size(size: Optional[Union[int, Tuple[int, int]]]) -> Optional[Size]:
    """An int side or an (H, W) pair as (H, W); None stays None."""
    if size is None:
        return None
    return (size, size) if isinstance(size, int) else tuple(size)


def unit_grid(size: Size, unit: int, unit_arg: str, grid_name: str,
              input_size: Optional[Size]) -> Size:
    """The (h, w) grid of ``unit``-pixel squares of an (H, W) image.

    Args:
        size: (H, W) of the image.
        unit: the side of a mask unit in pixels.
        unit_arg: the transform's argument giving ``unit`` (for the error).
        grid_name: what the grid is (for the error).
        input_size: the expected (H, W), or None.
    """
    H, W = size
    if input_size is not None and tuple(size) != input_size:
        raise ValueError(f'image is {H}x{W}, expected input_size '
                         f'{input_size[0]}x{input_size[1]}')
    if H % unit or W % unit:
        raise ValueError(f'image size {H}x{W} is not a multiple of '
                         f'{unit_arg} {unit}: the {grid_name} would not '
                         'cover it')
    return H // unit, W // unit


def describe(transform: object, *names: str) -> str:
    """``Name(a=..., b=...)`` of a transform's arguments ``names``."""
    args = ', '.join(f'{name}={getattr(transform, name)}' for name in names)
    return f'{type(transform).__name__}({args})'
