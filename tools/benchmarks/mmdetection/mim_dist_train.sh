#!/usr/bin/env bash
# Train one of the plugin's mmdet benchmark configs from a pretrained backbone
# with mmdet's own training script (`mim train mmdet`), on the GPUs of one node:
#   bash tools/benchmarks/mmdetection/mim_dist_train.sh CONFIG PRETRAIN GPUS [args]
# PRETRAIN is a pretraining checkpoint (backbone.* keys; for the MoBY Swin
# configs the output of tools/model_converters/moby2swin.py); it becomes the
# config's model.backbone.init_cfg.checkpoint. GPUS=1 runs without a
# launcher (also on a CPU). [args] go to mmdet's train.py (e.g. --work-dir DIR,
# --amp, more --cfg-options).
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
PORT=${PORT:-29500}
LAUNCHER=none
if [ "$GPUS" -gt 1 ]; then
    LAUNCHER=pytorch
fi

PYTHONPATH="$(dirname "$0")/../../..":$PYTHONPATH \
${PYTHON:-python} -m mim train mmdet $CONFIG \
    --launcher $LAUNCHER -G $GPUS --port $PORT \
    --cfg-options model.backbone.init_cfg.checkpoint=$PRETRAIN \
    ${@:4}
