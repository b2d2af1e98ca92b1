from .grids import denormalize, image_grid, save_png
from .mixmim import mixmim_reconstruction_grid

__all__ = [
    'denormalize', 'image_grid', 'mixmim_reconstruction_grid', 'save_png'
]
