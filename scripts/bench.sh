#!/usr/bin/env bash
# make bench: set up like run.sh, then run benchmarks/run.py on the bundled models
# (BENCH_ONLY=web: benchmarks/web.py, the web process's CPU per request alone; BENCH_ONLY=overhead:
# benchmarks/overhead.py, the worker's CPU per job without a model; BENCH_ONLY=first:
# benchmarks/first_request.py, a worker's start and its first job).
# It uses its own database (data/bench) and Redis database 14, starts its own
# worker and web server on loopback, and stops them at the end.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/setup.sh
if [ -z "${SECRET_KEY:-}" ]; then
  [ -s data/secret_key ] || (umask 077; .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(50))' > data/secret_key)
  export SECRET_KEY="$(cat data/secret_key)"
fi
export SESSION_COOKIE_SECURE=0 CSRF_COOKIE_SECURE=0 SECURE_HSTS_SECONDS=0 STATIC_MANIFEST=0
export DJANGO_SETTINGS_MODULE=config.settings PYTHONUNBUFFERED=1
export DATA_DIR="$ROOT/data/bench"
# Conversions (SmolLM2's GGUF) are shared with `make run`.
export MODEL_CACHE_DIR="${MODEL_CACHE_DIR:-$ROOT/data/model-cache}"
base="${REDIS_URL:-redis://127.0.0.1:6379/0}"
export REDIS_URL="${base%/*}/14"
export CELERY_BROKER_URL="$REDIS_URL"
# The benchmark measures the platform, not its per-user limits.
export API_RATE_LIMIT_PER_MINUTE=100000000 API_MAX_JOBS_IN_FLIGHT=100000 MONTHLY_COMPUTE_SECONDS=0
export LOG_LEVEL="${LOG_LEVEL:-WARNING}"
source scripts/shared_host.sh  # the workers (and web server) as make run starts them
mkdir -p "$DATA_DIR"

pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop INT TERM EXIT
redis_pid="$(scripts/redis.sh)"
[ -n "$redis_pid" ] && pids+=("$redis_pid")
.venv/bin/python - "$REDIS_URL" <<'PY'
import sys, redis
redis.Redis.from_url(sys.argv[1]).flushdb()  # database 14: the benchmark's own queues only
PY
.venv/bin/python manage.py migrate --noinput -v 0
case "${BENCH_ONLY:-}" in
  web) script=web.py ;;
  overhead) script=overhead.py ;;
  first) script=first_request.py ;;
  *) script=run.py ;;
esac
.venv/bin/python "benchmarks/$script"
