#!/usr/bin/env bash
# make load: a Locust soak (50 clients, 2 minutes; ARGS=--long or LOAD_LONG=1: 10 minutes) of mixed traffic
# (emotion, text-vectorisation, text-generation; sync, async and streaming; several users with their own
# keys) on a stack of the suite's own. Prints throughput, p50/p95/p99 per endpoint, errors by status, the
# jobs' accounting from the database and every process's memory at the start and the end. docs/chaos.md.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/setup.sh
command -v redis-server >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }
unset DATABASE_URL REDIS_URL CELERY_BROKER_URL PROMETHEUS_MULTIPROC_DIR
exec .venv/bin/python -m ops.load "$@"
