#!/usr/bin/env bash
# make run: set up, then run the web server, a Celery worker (with the sweeper)
# and Redis if needed, until Ctrl-C or SIGTERM, which stop everything started here.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/setup.sh
PORT="${PORT:-8000}"
if [ -z "${SECRET_KEY:-}" ]; then
  # The embedded default keeps a generated secret in data/ (git-ignored).
  [ -s data/secret_key ] || (umask 077; .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(50))' > data/secret_key)
  export SECRET_KEY="$(cat data/secret_key)"
fi
# The embedded default serves plain HTTP on loopback; behind TLS leave these on.
export SESSION_COOKIE_SECURE="${SESSION_COOKIE_SECURE:-0}" CSRF_COOKIE_SECURE="${CSRF_COOKIE_SECURE:-0}"
export SECURE_HSTS_SECONDS="${SECURE_HSTS_SECONDS:-0}"
export DJANGO_SETTINGS_MODULE=config.settings PYTHONUNBUFFERED=1
# /metrics: every process writes its samples here (prometheus-client's multiprocess mode); emptied at each start.
export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-$ROOT/data/prometheus}"
mkdir -p "$PROMETHEUS_MULTIPROC_DIR" && find "$PROMETHEUS_MULTIPROC_DIR" -maxdepth 1 -name '*.db' -delete

pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  exit 0
}
trap stop INT TERM EXIT

redis_pid="$(scripts/redis.sh)"
[ -n "$redis_pid" ] && pids+=("$redis_pid")
.venv/bin/python manage.py migrate --noinput -v 0
.venv/bin/python manage.py collectstatic --noinput -v 0
mkdir -p data/logs
.venv/bin/python manage.py runworker --beat --loglevel=WARNING >>data/logs/worker.log 2>&1 &
pids+=("$!")
.venv/bin/gunicorn config.asgi:application -k uvicorn.workers.UvicornWorker \
  --bind "127.0.0.1:$PORT" --workers "${WEB_WORKERS:-2}" --graceful-timeout 5 \
  --access-logfile - --error-logfile - >>data/logs/web.log 2>&1 &
pids+=("$!")
for _ in $(seq 1 100); do
  .venv/bin/python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$PORT/login/', timeout=1)" 2>/dev/null && break
  sleep 0.2
done
echo "URL: http://127.0.0.1:$PORT/"
.venv/bin/python manage.py demo_user
echo "Logs: data/logs/ (web.log, worker.log). Ctrl-C stops everything."
while true; do
  for pid in "${pids[@]}"; do
    if ! kill -0 "$pid" 2>/dev/null; then echo "A process stopped (pid $pid); see data/logs/." >&2; stop; fi
  done
  sleep 2
done
