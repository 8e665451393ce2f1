#!/usr/bin/env bash
# make cluster: the README's deployment on one machine out of network namespaces (ip netns, a bridge, veth
# pairs, 10.77.0.0/24): a data host (PostgreSQL, Redis), a web host, two worker hosts and a client. Seed calls,
# steady load, then one worker host cut off mid-load; every job must end on the other. Needs root. docs/chaos.md.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/setup.sh
command -v redis-server >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }
command -v ip >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 >/dev/null; }
unset DATABASE_URL REDIS_URL CELERY_BROKER_URL PROMETHEUS_MULTIPROC_DIR
exec .venv/bin/python -m ops.cluster "$@"
