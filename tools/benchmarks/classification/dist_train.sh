#!/usr/bin/env bash
# Fine-tune or linear-probe a pretrained backbone with one of the plugin's
# mmpretrain-style benchmark configs, on the GPUs of one node (CPU
# processes with gloo where there is no GPU):
#   bash tools/benchmarks/classification/dist_train.sh CONFIG PRETRAIN GPUS [args]
# PRETRAIN is a pretraining checkpoint (backbone.* keys); it becomes the
# config's model.backbone.init_cfg.checkpoint. [args] go to tools/train.py
# (e.g. --work-dir DIR, --amp, more --cfg-options).
if [ $# -lt 3 ]; then
    echo "usage: $0 CONFIG PRETRAIN GPUS [args]" >&2
    exit 2
fi
CONFIG=$1
PRETRAIN=$2
GPUS=$3
if [ ! -f "$PRETRAIN" ]; then
    echo "error: pretrained checkpoint not found: $PRETRAIN" >&2
    exit 2
fi
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
ROOT="$(dirname "$0")/../../.."

PYTHONPATH="$ROOT":$PYTHONPATH \
${PYTHON:-python} -m torch.distributed.run \
    --nnodes=$NNODES \
    --node_rank=$NODE_RANK \
    --master_addr=$MASTER_ADDR \
    --nproc_per_node=$GPUS \
    --master_port=$PORT \
    "$ROOT/tools/train.py" \
    $CONFIG \
    --launcher pytorch \
    --cfg-options model.backbone.init_cfg.checkpoint=$PRETRAIN \
    ${@:4}
