#!/usr/bin/env bash
# make test: set up like make run, make sure Redis (and the browser for the
# browser tests) are there, then run the whole suite. With DATABASE_URL set the
# suite runs on that database (PostgreSQL in CI).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/setup.sh
if [ ! -x /usr/bin/chromium ]; then
  echo "==> installing Debian's chromium for the browser tests"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
redis_pid="$(scripts/redis.sh)"
cleanup() { [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null || true; }
trap cleanup EXIT
.venv/bin/python -m pytest "$@"
