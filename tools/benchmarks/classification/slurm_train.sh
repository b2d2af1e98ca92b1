#!/usr/bin/env bash
# Fine-tune or linear-probe a pretrained backbone with one of the plugin's
# mmpretrain-style benchmark configs on a Slurm cluster:
#   GPUS=8 bash tools/benchmarks/classification/slurm_train.sh \
#       PARTITION JOB_NAME CONFIG PRETRAIN [args]
# PRETRAIN becomes model.backbone.init_cfg.checkpoint; [args] go to
# tools/train.py (the work dir defaults to work_dirs/JOB_NAME).
if [ $# -lt 4 ]; then
    echo "usage: $0 PARTITION JOB_NAME CONFIG PRETRAIN [args]" >&2
    exit 2
fi
set -x
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
PRETRAIN=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
ROOT="$(dirname "$0")/../../.."

PYTHONPATH="$ROOT":$PYTHONPATH \
srun -p ${PARTITION} \
    --job-name=${JOB_NAME} \
    --gres=gpu:${GPUS_PER_NODE} \
    --ntasks=${GPUS} \
    --ntasks-per-node=${GPUS_PER_NODE} \
    --cpus-per-task=${CPUS_PER_TASK} \
    --kill-on-bad-exit=1 \
    ${SRUN_ARGS} \
    ${PYTHON:-python} -u "$ROOT/tools/train.py" $CONFIG \
    --work-dir=work_dirs/${JOB_NAME} --launcher=slurm \
    --cfg-options model.backbone.init_cfg.checkpoint=$PRETRAIN \
    ${@:5}
