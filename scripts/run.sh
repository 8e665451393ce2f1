#!/usr/bin/env bash
# make run: set up, then run the web server, a Celery worker (with the sweeper) and, unless REDIS_URL
# is set, a Redis of its own with append-only persistence in $DATA_DIR/redis, until Ctrl-C or SIGTERM.
# Stopping is bounded: every process started here is sent SIGTERM (the worker hands back its running
# jobs), and whatever is left after STOP_TIMEOUT_S (10 s) is killed with its whole process group.
# DATA_DIR (default data/ in the checkout) holds the database, Redis's files, logs and the secret key.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/setup.sh
PORT="${PORT:-8000}"
export DATA_DIR="${DATA_DIR:-$ROOT/data}"
mkdir -p "$DATA_DIR/logs"
LOGS="$DATA_DIR/logs"
if [ -z "${SECRET_KEY:-}" ]; then
  # The embedded default keeps a generated secret in DATA_DIR (git-ignored).
  [ -s "$DATA_DIR/secret_key" ] || (umask 077; .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(50))' > "$DATA_DIR/secret_key")
  export SECRET_KEY="$(cat "$DATA_DIR/secret_key")"
fi
# The embedded default serves plain HTTP on loopback; behind TLS leave these on.
export SESSION_COOKIE_SECURE="${SESSION_COOKIE_SECURE:-0}" CSRF_COOKIE_SECURE="${CSRF_COOKIE_SECURE:-0}"
export SECURE_HSTS_SECONDS="${SECURE_HSTS_SECONDS:-0}"
export DJANGO_SETTINGS_MODULE=config.settings PYTHONUNBUFFERED=1
# No REDIS_URL: a Redis of our own (RUN_REDIS_PORT), persisted, so queued jobs survive its restart.
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:${RUN_REDIS_PORT:-6380}/0}"
STOP_TIMEOUT_S="${STOP_TIMEOUT_S:-10}"
source scripts/shared_host.sh  # WEB_WORKERS, TORCH_THREADS for a web server and a worker on one machine
# /metrics: every process writes its samples here (prometheus-client's multiprocess mode); emptied at each start.
export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-$DATA_DIR/prometheus}"
mkdir -p "$PROMETHEUS_MULTIPROC_DIR" && find "$PROMETHEUS_MULTIPROC_DIR" -maxdepth 1 -name '*.db' -delete

pids=()       # web and worker: each the leader of its own process group (setsid)
redis_pid=""  # the Redis started (or adopted) here, stopped last
fg_pid=""     # a set-up step running now
now_ms() { echo $(( ${EPOCHREALTIME/./} / 1000 )); }
# Wait until no process is left in these process groups, or the deadline (ms) passes.
wait_groups() {
  local deadline="$1"; shift
  while [ "$(now_ms)" -lt "$deadline" ]; do
    local left=0 group
    for group in "$@"; do pgrep -g "$group" >/dev/null 2>&1 && left=1; done
    [ "$left" = 0 ] && return 0
    sleep 0.1
  done
  return 1
}
stop() {
  local code="${1:-0}" start group
  trap - INT TERM EXIT
  start="$(now_ms)"
  echo "Stopping (at most ${STOP_TIMEOUT_S} s)..." >&2
  [ -n "$fg_pid" ] && kill -TERM "$fg_pid" 2>/dev/null || true
  for group in "${pids[@]}"; do kill -TERM "$group" 2>/dev/null || true; done
  # The worker and the web server get most of the time; Redis, which they need to hand jobs back, stops last.
  wait_groups $(( start + STOP_TIMEOUT_S * 700 )) "${pids[@]}" || true
  for group in "${pids[@]}"; do kill -KILL -- "-$group" 2>/dev/null || true; done
  if [ -n "$redis_pid" ]; then
    kill -TERM "$redis_pid" 2>/dev/null || true
    wait_groups $(( start + STOP_TIMEOUT_S * 950 )) "$redis_pid" || true
    kill -KILL -- "-$redis_pid" 2>/dev/null || true
  fi
  exit "$code"
}
trap 'stop 130' INT
trap 'stop 143' TERM
trap 'stop $?' EXIT
# A set-up step in the background, waited for, so a signal is handled at once. Its standard input is
# run.sh's (a here-document's script), not the /dev/null bash gives a background command.
step() { "$@" <&0 & fg_pid=$!; wait "$fg_pid"; fg_pid=""; }

redis_pid="$(scripts/redis.sh --persist)"
step .venv/bin/python manage.py migrate --noinput -v 0
step .venv/bin/python manage.py collectstatic --noinput -v 0
setsid .venv/bin/python manage.py runworker --beat --loglevel=WARNING >>"$LOGS/worker.log" 2>&1 </dev/null &
pids+=("$!")
setsid .venv/bin/gunicorn config.asgi:application -k uvicorn.workers.UvicornWorker \
  --bind "127.0.0.1:$PORT" --workers "$WEB_WORKERS" --graceful-timeout 5 \
  --access-logfile - --error-logfile - >>"$LOGS/web.log" 2>&1 </dev/null &
pids+=("$!")
step .venv/bin/python - "$PORT" <<'PY'
import sys, time, urllib.request
for _ in range(150):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/login/", timeout=1)
        break
    except Exception:
        time.sleep(0.2)
PY
# The worker loads its models before it takes a job: the URL is printed once they are warm (GET /api/health),
# or after WARM_WAIT_S (120 s) with a warning, so the first requests do not pay the load.
step .venv/bin/python - "$PORT" "${WARM_WAIT_S:-120}" "${pids[0]}" <<'PY'
import json, os, sys, time, urllib.request
port, bound, worker_pid = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
wanted = [m.strip() for m in os.environ.get("WORKER_PRELOAD_MODELS", "").split(",") if m.strip()]
started = time.monotonic()
print(f"Waiting for the worker to load its models (at most {bound:.0f} s)...", flush=True)
cold, said = None, started
while time.monotonic() - started < bound:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=3) as response:
            report = json.load(response)
    except Exception:  # 503 (the database or Redis not answering) or no answer yet: ask again
        report = {}
    models = report.get("models") or {}
    # served (the default): every installed model; none: just a live worker; a list: the listed models
    targets = [] if "none" in wanted else [m for m in models if not wanted or "served" in wanted or m in wanted]
    cold = [m for m in targets if models[m] != "warm"]
    if report.get("workers") and not cold:
        print(f"Models warm ({time.monotonic() - started:.0f} s): {', '.join(targets) or 'none preloaded'}.")
        sys.exit(0)
    try:
        os.kill(worker_pid, 0)
    except OSError:
        sys.exit(0)  # the worker stopped: run.sh says so and stops
    if time.monotonic() - said >= 15:
        said = time.monotonic()
        print(f"  still loading: {', '.join(cold) if cold else 'the worker is starting'}", flush=True)
    time.sleep(0.5)
print(f"Warning: after {bound:.0f} s the worker has not reported "
      f"{', '.join(cold) if cold else 'itself'} warm (see logs/worker.log); continuing.", file=sys.stderr)
PY
echo "URL: http://127.0.0.1:$PORT/"
step .venv/bin/python manage.py demo_user
echo "Logs: $LOGS/ (web.log, worker.log). Ctrl-C stops everything."
while true; do
  for pid in "${pids[@]}" $redis_pid; do
    if ! kill -0 "$pid" 2>/dev/null; then echo "A process stopped (pid $pid); see $LOGS/." >&2; stop 1; fi
  done
  sleep 2 & wait $!
done
