# Runtime shared by every plugin config: mmpretrain's runtime, with the plugin
# scope (which sees all of mmpretrain's modules as well as the plugin's), and
# the plugin's fault-tolerant runner.
_base_ = ['mmpretrain::_base_/default_runtime.py', './fault_tolerance.py']

default_scope = 'mixmim_plugin'
custom_imports = dict(imports=['mixmim_plugin'], allow_failed_imports=False)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=3))

# gloo is used automatically by tools/train.py when no GPU is present
env_cfg = dict(dist_cfg=dict(backend='nccl'))
log_processor = dict(window_size=10)
randomness = dict(seed=0, diff_rank_seed=True)
