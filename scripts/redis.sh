#!/usr/bin/env bash
# Make sure a Redis answers at $REDIS_URL (default redis://127.0.0.1:6379/0).
#   scripts/redis.sh            if none answers and the URL is local, start one that keeps nothing (tests)
#   scripts/redis.sh --persist  if none answers, start one with append-only persistence in $DATA_DIR/redis
#                               (make run); a Redis already there from an earlier run of this checkout is
#                               adopted; any other Redis that answers is reused, with a warning if it keeps
#                               nothing on disk (a restart would lose every queued job).
# Prints the pid of a Redis it started (or adopted), nothing otherwise. Every Redis it starts runs in a
# session of its own, so the caller stops it (and only it) by its process group.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
persist=0; [ "${1:-}" = "--persist" ] && persist=1
URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
DATA="${DATA_DIR:-$ROOT/data}"
if [ "$persist" = 1 ]; then DIR="$DATA/redis"; else DIR="$DATA/redis-ephemeral"; fi
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd -P)"
# ask: prints "down", or "<pid> <dir> <persistence>" of the Redis at $URL.
ask() { .venv/bin/python - "$URL" <<'PY'
import sys, redis
client = redis.Redis.from_url(sys.argv[1], socket_connect_timeout=1, socket_timeout=2)
try:
    pid = client.info("server")["process_id"]
except Exception:
    print("down")
    sys.exit(0)
try:
    folder = client.config_get("dir").get("dir", "?")
    aof = client.config_get("appendonly").get("appendonly") == "yes"
    save = client.config_get("save").get("save", "")
    persistence = "aof" if aof else ("rdb" if save else "none")
except redis.ResponseError:  # CONFIG disabled: a managed Redis
    folder, persistence = "?", "unknown"
print(pid, folder, persistence)
PY
}
state="$(ask)"
if [ "$state" != down ]; then
  read -r pid folder persistence <<<"$state"
  if [ "$persist" = 1 ] && [ "$folder" = "$DIR" ]; then
    echo "$pid"; exit 0  # ours, left running by an earlier run that did not stop it: adopt it
  fi
  if [ "$persist" = 1 ] && [ "$persistence" = none ]; then
    echo "WARNING: the Redis at $URL keeps nothing on disk (no append-only file, no snapshots): a restart" \
         "loses every queued job until it is re-sent. Give it appendonly yes, or leave REDIS_URL unset so" \
         "make run starts its own." >&2
  fi
  exit 0
fi
hostport="${URL#redis://}"; hostport="${hostport%%/*}"; hostport="${hostport##*@}"
host="${hostport%%:*}"; port="${hostport##*:}"; [ "$port" = "$host" ] && port=6379
case "$host" in 127.0.0.1|localhost|::1|"") ;; *) echo "No Redis answers at $URL and it is not local." >&2; exit 1;; esac
if ! command -v redis-server >/dev/null 2>&1; then
  echo "==> installing redis-server" >&2
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >&2
fi
if [ "$persist" = 1 ]; then keep=(--appendonly yes --appendfsync everysec); else keep=(--appendonly no); fi
setsid redis-server --bind 127.0.0.1 --port "$port" --dir "$DIR" "${keep[@]}" --save "" \
  --logfile "$DIR/redis.log" --daemonize no </dev/null >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 50); do
  [ "$(ask)" != down ] && { echo "$pid"; exit 0; }
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
echo "Redis did not start on port $port; see $DIR/redis.log" >&2
exit 1
