# MixMIM-H (C=352, heads 11-22-44-88, ~600 M parameters), 600 epochs.
# Gradient checkpointing keeps the 128-image per-GPU batch in memory.
_base_ = './mixmim-b_8xb128_600e.py'

model = dict(backbone=dict(arch='h', with_cp=True))
