"""Pictures of pretrained models; importing the package registers the
drawers of the four methods (:mod:`.drawers`)."""
from .curves import load_train_curves, plot_curves
from .drawers import DRAWERS, Drawer, register_drawer
from .droppos import droppos_predict, droppos_prediction_grid
from .grids import denormalize, image_grid, save_png
from .mae import mae_reconstruct, mae_reconstruction_grid
from .mixmim import mixmim_reconstruction_grid

__all__ = [
    'denormalize', 'image_grid', 'mixmim_reconstruction_grid', 'save_png',
    'load_train_curves', 'plot_curves', 'droppos_predict',
    'droppos_prediction_grid', 'mae_reconstruct', 'mae_reconstruction_grid',
    'DRAWERS', 'Drawer', 'register_drawer'
]
