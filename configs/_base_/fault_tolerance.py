# Every plugin config trains with the plugin's FaultTolerantRunner: atomic
# checkpoints, verified and shape-checked resume, randomness that a resume
# repeats exactly, and the non-finite sentinel (mixmim_plugin/engine/
# runner.py). mmdet's and mmseg's tools/train.py (`mim train`) build it from
# `runner_type` as well. Its settings:
runner_type = 'mixmim_plugin.FaultTolerantRunner'
fault_tolerance = dict(
    # non-finite steps in a row before rolling back to the last checkpoint
    max_consecutive_nonfinite=3,
    # rollbacks before the run stops with an error naming the iteration
    max_rollbacks=2,
    # lr multiplier after each rollback (1.0: unchanged)
    rollback_lr_factor=1.0,
    # re-seed per iteration and per sample, so a resume repeats the run
    reproducible=True,
    # flush checkpoints to the disk before renaming them into place (a
    # power loss cannot leave a broken one; costs the disk's write time)
    fsync=True)
