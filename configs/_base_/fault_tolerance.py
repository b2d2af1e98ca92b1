# Every plugin config trains with the plugin's FaultTolerantRunner: atomic
# checkpoints, verified and shape-checked resume, randomness that a resume
# repeats exactly, and the non-finite sentinel (mixmim_plugin/engine/
# runner.py). mmdet's and mmseg's tools/train.py (`mim train`) build it from
# `runner_type` as well. Its options and their defaults are the runner's
# DEFAULTS; set any here or with --cfg-options, e.g.
# fault_tolerance.max_rollbacks=5 or fault_tolerance.fsync=False.
runner_type = 'mixmim_plugin.FaultTolerantRunner'
fault_tolerance = dict()
