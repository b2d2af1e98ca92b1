#!/usr/bin/env bash
# The prepared GPU check, one call on one CUDA GPU (about 8 minutes): the
# CUDA-only tests, then the MixMIM-B benchmark (plugin vs mmpretrain) at
# batch 64 and 128 in fp16 and bf16. Writes work_dirs/gpu_check/gpu_check.md.
#
#   bash tools/analysis_tools/gpu_check.sh [--out-dir DIR] [--batches 64 128]
#       [--precisions fp16 bf16] [--iters 10] [--warmup 3] [--budget 480]
#
# It runs with $PYTHON, else the repository's .venv, else python3; that
# interpreter needs the stack of tools/setup_env.sh. The code is
# tools/mixmim_tools/cli/gpu_check.py (entry: gpu_check.py beside this).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PY="${PYTHON:-}"
if [[ -z "$PY" ]]; then
  if [[ -x "$ROOT/.venv/bin/python" ]]; then PY="$ROOT/.venv/bin/python"; else PY=python3; fi
fi
if ! "$PY" -c "import torch, mmengine, mmpretrain, mixmim_tools" >/dev/null 2>&1; then
  echo "gpu_check: $PY cannot import torch, mmengine, mmpretrain and mixmim_tools;" \
       "set it up with 'bash tools/setup_env.sh' or point PYTHON at an interpreter that has them" >&2
  exit 2
fi
exec "$PY" "$ROOT/tools/analysis_tools/gpu_check.py" "$@"
