#!/usr/bin/env bash
# make bench-peers: Forwardpass against BentoML 1.4 on all-MiniLM-L6-v2 (benchmarks/peers/run.py).
# BentoML runs from a scratch virtualenv (data/peers-venv, git-ignored, built here on first use: torch
# 2.13.0 first, then BentoML and Forwardpass's own transformers). Forwardpass runs as `make run` does, on
# its own database (data/peers) and a Redis of its own on a free port; one server is up at a time.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/setup.sh
PEERS_VENV="${PEERS_VENV:-$ROOT/data/peers-venv}"
BENTOML_VERSION="${BENTOML_VERSION:-1.4.40}"
if [ ! -x "$PEERS_VENV/bin/bentoml" ]; then
  echo "building $PEERS_VENV (BentoML $BENTOML_VERSION)..."
  transformers_version="$(.venv/bin/python -c 'import transformers; print(transformers.__version__)')"
  python3.11 -m venv "$PEERS_VENV"
  "$PEERS_VENV/bin/pip" install -q torch==2.13.0
  "$PEERS_VENV/bin/pip" install -q "bentoml==$BENTOML_VERSION" "transformers==$transformers_version"
fi
export PEERS_VENV
[ -s data/secret_key ] || (umask 077; .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(50))' > data/secret_key)
export SECRET_KEY="${SECRET_KEY:-$(cat data/secret_key)}"
export SESSION_COOKIE_SECURE=0 CSRF_COOKIE_SECURE=0 SECURE_HSTS_SECONDS=0
export DJANGO_SETTINGS_MODULE=config.settings PYTHONUNBUFFERED=1
export DATA_DIR="$ROOT/data/peers"
export MODEL_CACHE_DIR="${MODEL_CACHE_DIR:-$ROOT/data/model-cache}"
port="$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
export REDIS_URL="redis://127.0.0.1:$port/0" CELERY_BROKER_URL="redis://127.0.0.1:$port/0"
# Limits high enough not to answer 429 (they are still checked on every request).
export API_RATE_LIMIT_PER_MINUTE=100000000 API_MAX_JOBS_IN_FLIGHT=100000 MONTHLY_COMPUTE_SECONDS=1000000000
export LOG_LEVEL="${LOG_LEVEL:-WARNING}"
source scripts/shared_host.sh  # as make run starts the web server and the worker
export PROMETHEUS_MULTIPROC_DIR="$DATA_DIR/prometheus"
mkdir -p "$DATA_DIR" "$PROMETHEUS_MULTIPROC_DIR"
find "$PROMETHEUS_MULTIPROC_DIR" -maxdepth 1 -name '*.db' -delete
.venv/bin/python manage.py migrate --noinput -v 0
.venv/bin/python "benchmarks/peers/$([ "${PEERS_TRACE:-}" = 1 ] && echo trace.py || echo run.py)"
