from .coco_classes_check_hook import CocoClassesCheckHook
from .droppos_sigma_hook import DropPosSigmaHook

__all__ = ['CocoClassesCheckHook', 'DropPosSigmaHook']
