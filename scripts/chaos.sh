#!/usr/bin/env bash
# make chaos: faults under steady load on a stack of the suite's own (its own PostgreSQL cluster, a Redis
# with an append-only file, the web server, two supervised workers), then a table. ARGS=--long (or
# CHAOS_LONG=1) runs the long version; ARGS="--only worker-kill,poison-job" some scenarios. docs/chaos.md.
# Exit status 1 on a lost job, a job run twice, a 5xx, a hung call or a failed check.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/setup.sh
command -v redis-server >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }
# The suite points its processes at its own stack: a DATABASE_URL or REDIS_URL of the caller does not apply.
unset DATABASE_URL REDIS_URL CELERY_BROKER_URL PROMETHEUS_MULTIPROC_DIR
exec .venv/bin/python -m ops.chaos "$@"
