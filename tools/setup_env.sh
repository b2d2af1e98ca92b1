#!/usr/bin/env bash
# Create (or update) the project's virtual environment in .venv with the pinned
# OpenMMLab stack, then install mixmim_plugin in editable mode.
#
#   bash tools/setup_env.sh          # idempotent: a second run takes seconds
#   VENV=/path/to/venv PYTHON=python3.11 bash tools/setup_env.sh
#
# Each step prints its name; a failing step stops the script with a message that
# names the step and what to look at. A stamp file records the hash of the
# requirement files, so an unchanged environment is only re-checked, not rebuilt.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
REQ="$ROOT/requirements"
STAMP="$VENV/.mixmim_plugin_env"
LOG_DIR="$VENV/setup-logs"

say() { printf '[setup_env] %s\n' "$*"; }
die() { printf '[setup_env] ERROR in step "%s": %s\n' "$1" "$2" >&2; exit 1; }

# run_step NAME HINT CMD...: run CMD, log its output, stop with NAME and HINT.
run_step() {
  local name="$1" hint="$2"; shift 2
  local log="$LOG_DIR/${name// /_}.log" start=$SECONDS
  say "step: $name"
  if ! "$@" >"$log" 2>&1; then
    tail -n 25 "$log" >&2 || true
    die "$name" "$hint (full log: $log)"
  fi
  say "      done in $((SECONDS - start)) s"
}

req_hash() {
  cat "$REQ"/*.txt "$ROOT/setup.cfg" "$ROOT/setup.py" "${BASH_SOURCE[0]}" \
    | sha256sum | cut -d' ' -f1
}

# ---------------------------------------------------------------- interpreter
command -v "$PYTHON" >/dev/null 2>&1 \
  || die "interpreter" "'$PYTHON' not found; set PYTHON=/path/to/python3.11"
"$PYTHON" - <<'EOF' || die "interpreter" "Python 3.9-3.12 is required (3.11 is the verified one)"
import sys
sys.exit(0 if (3, 9) <= sys.version_info[:2] <= (3, 12) else 1)
EOF

if [ ! -x "$VENV/bin/python" ]; then
  say "step: create venv at $VENV"
  "$PYTHON" -m venv "$VENV" || die "create venv" "python -m venv failed (is the venv module installed?)"
fi
mkdir -p "$LOG_DIR"
PY="$VENV/bin/python"
PIP=("$PY" -m pip install --disable-pip-version-check -c "$REQ/constraints.txt")

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(req_hash)" ] \
   && "$PY" -c "import mixmim_plugin, mixmim_tools, mmcv.ops" >/dev/null 2>&1; then
  say "environment up to date ($VENV)"
  exit 0
fi
rm -f "$STAMP"

run_step "build tools" "could not install setuptools/wheel/ninja from the registry" \
  "${PIP[@]}" -r "$REQ/build.txt"

run_step "torch" "could not install torch===2.13.0 / torchvision===0.28.0 (the registry's default build)" \
  "${PIP[@]}" -r "$REQ/torch.txt"

# mmcv: built from source against the venv's torch. pip caches the built wheel,
# so this is slow (about 10 minutes on 2 cores) only the first time on a machine.
if "$PY" -c "import mmcv, mmcv.ops, sys; sys.exit(mmcv.__version__ != '2.1.0')" >/dev/null 2>&1; then
  say "step: mmcv (2.1.0 with ops already installed)"
else
  say "(mmcv is compiled from source the first time: about 10 minutes on 2 cores)"
  run_step "mmcv" "mmcv 2.1.0 source build failed: needs gcc, the Python headers, and torch in the venv" \
    env MMCV_WITH_OPS=1 "${PIP[@]}" --no-build-isolation -r "$REQ/mminstall.txt"
fi

run_step "openmmlab packages" "could not install the pinned mmengine/mmpretrain/mmdet/mmseg/openmim set" \
  "${PIP[@]}" -r "$REQ/runtime.txt" -r "$REQ/tests.txt"

run_step "mixmim_plugin" "editable install of the plugin failed" \
  "${PIP[@]}" --no-build-isolation --no-deps -e "$ROOT"

run_step "pip check" "installed packages have conflicting requirements" "$PY" -m pip check

run_step "import check" "the installed stack does not import (see the log)" \
  "$PY" -c "import torch, torchvision, mmcv.ops, mmengine, mmpretrain, mmdet, mmseg, mixmim_plugin, \
mixmim_tools; import mixmim_plugin.utils.env as e; e.check_stack_versions()"

req_hash >"$STAMP"
say "environment ready: $VENV (activate with 'source $VENV/bin/activate')"
