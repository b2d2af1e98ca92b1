# The plugin runtime, logging MoBY's target momentum of the logged iteration
# (not a window mean).
_base_ = './default_runtime.py'

log_processor = dict(
    custom_cfg=[dict(data_src='momentum', method_name='current')])
