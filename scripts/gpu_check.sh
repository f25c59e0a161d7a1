#!/usr/bin/env bash
# The CUDA QLoRA check, on one GPU, in a few minutes, without the model hub (the bundled model only):
#   1. builds a venv with a CUDA torch (the default PyPI wheel of torch 2.13.0 is the CUDA build) and
#      the requirements (pip needs the machine's package index; nothing else is downloaded);
#   2. runs scripts/gpu_check.py in it: imports the bundled sample chats into a temporary data dir,
#      trains the bundled SmolLM2-135M with 4-bit NF4 QLoRA for --steps steps, evaluates, serves a
#      reply from the new adapter, prints steps/s, peak GPU memory and perplexity base -> new.
#
#   scripts/gpu_check.sh [--steps N]     on a GPU machine (venv: $GPU_CHECK_VENV, default .venv-gpu)
#   scripts/gpu_check.sh --dry-run       anywhere: no venv build, the CPU path of the same Python part
#                                        with the project's .venv and the tiny model (checks the script)
#
# Exit code: 0 when every step ran; the figures are on the last line (GPU_CHECK {...json...}).
# Status: NOT YET RUN ON A GPU (see README, "CUDA path"); the --dry-run path is tested on CPU.
set -euo pipefail

cd "$(dirname "$0")/.."
TORCH_VERSION="2.13.0"
VENV="${GPU_CHECK_VENV:-.venv-gpu}"
STEPS=40
DRY_RUN=0
while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) DRY_RUN=1 ;;
        --steps) STEPS="$2"; shift ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "gpu_check: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

if [ "$DRY_RUN" = 1 ]; then
    PYTHON="${GPU_CHECK_PYTHON:-.venv/bin/python}"
    exec "$PYTHON" scripts/gpu_check.py --dry-run --steps 3 ${TGTWIN_TEST_MODELS_DIR:+--models-dir "$TGTWIN_TEST_MODELS_DIR"}
fi

command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader \
    || echo "gpu_check: nvidia-smi not found (continuing; torch decides whether CUDA works)"
started=$(date +%s)
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --upgrade pip
"$VENV/bin/pip" install --quiet "torch==$TORCH_VERSION"
"$VENV/bin/pip" install --quiet -r requirements.txt
"$VENV/bin/python" - <<'EOF'
import torch
assert torch.cuda.is_available(), f"torch {torch.__version__} sees no CUDA device"
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name(0)}")
EOF
echo "gpu_check: venv ready in $(( $(date +%s) - started ))s"
"$VENV/bin/python" scripts/gpu_check.py --steps "$STEPS"
echo "gpu_check: done in $(( $(date +%s) - started ))s"
