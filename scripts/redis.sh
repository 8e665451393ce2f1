#!/usr/bin/env bash
# Make sure a Redis answers at $REDIS_URL. If none does and the URL is local,
# start one (installing redis-server from Debian's packages if it is missing)
# with append-only persistence in data/redis, so accepted jobs survive a restart.
# Prints the pid of a Redis it started, nothing otherwise.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
ping() { .venv/bin/python - "$URL" <<'PY'
import sys, redis
try:
    redis.Redis.from_url(sys.argv[1], socket_connect_timeout=1).ping()
except Exception:
    sys.exit(1)
PY
}
if ping; then exit 0; fi
hostport="${URL#redis://}"; hostport="${hostport%%/*}"; hostport="${hostport##*@}"
host="${hostport%%:*}"; port="${hostport##*:}"; [ "$port" = "$host" ] && port=6379
case "$host" in 127.0.0.1|localhost|::1|"") ;; *) echo "No Redis answers at $URL and it is not local." >&2; exit 1;; esac
if ! command -v redis-server >/dev/null 2>&1; then
  echo "==> installing redis-server" >&2
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >&2
fi
mkdir -p data/redis
redis-server --bind 127.0.0.1 --port "$port" --dir "$ROOT/data/redis" --appendonly yes \
  --appendfsync everysec --save "" --logfile "$ROOT/data/redis/redis.log" --daemonize no >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 50); do ping && { echo "$pid"; exit 0; }; sleep 0.1; done
echo "Redis did not start; see data/redis/redis.log" >&2
exit 1
