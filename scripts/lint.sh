#!/usr/bin/env bash
# make lint: set up like make test (a fresh machine has no .venv yet), then ruff and mypy (what
# pyproject.toml's [tool.mypy] names; the first run reads torch's types, about a minute, later runs its cache).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/mypy
