from .droppos_sigma_hook import DropPosSigmaHook

__all__ = ['DropPosSigmaHook']
