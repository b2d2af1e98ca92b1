#!/usr/bin/env bash
# Train one of the plugin's mmseg benchmark configs from a pretrained backbone
# with mmseg's own training script (`mim train mmseg`) on a Slurm cluster:
#   GPUS=8 bash tools/benchmarks/mmsegmentation/mim_slurm_train.sh \
#       PARTITION CONFIG PRETRAIN [args]
# PRETRAIN becomes model.backbone.init_cfg.checkpoint; [args] go to mmseg's
# train.py (e.g. --work-dir DIR).
if [ $# -lt 3 ]; then
    echo "usage: $0 PARTITION CONFIG PRETRAIN [args]" >&2
    exit 2
fi
set -x
PARTITION=$1
CONFIG=$2
PRETRAIN=$3
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}

PYTHONPATH="$(dirname "$0")/../../..":$PYTHONPATH \
${PYTHON:-python} -m mim train mmseg $CONFIG \
    --launcher slurm -G $GPUS \
    --gpus-per-node $GPUS_PER_NODE \
    --cpus-per-task $CPUS_PER_TASK \
    --partition $PARTITION \
    --srun-args "$SRUN_ARGS" \
    --cfg-options model.backbone.init_cfg.checkpoint=$PRETRAIN \
    ${@:4}
