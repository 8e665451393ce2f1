#!/usr/bin/env bash
# Sourced by run.sh and bench_peers.sh: the defaults of a machine that runs the web server and the worker
# side by side (make run), each kept when already set. Measured on 2 cores (docs/perf/README.md):
# - WEB_WORKERS: one web process per two cores (at least one). A process runs one event loop that accepts
#   the submissions arriving together in one transaction and one message (api/submissions.py); a second
#   process on 2 cores split them and cost 1-1.5 core-ms more a request at 32 clients.
# - TORCH_THREADS=1: one thread per torch operation, the worker running a batch's length groups side by side
#   on the cores instead (inference/backends/text.py): threads that share their cores with the web server
#   waited for each other at every operation. A single comment 9.8 -> 8 ms, a batch of 19 comments
#   72-80 -> 51 ms; SmolLM2 generated 12.4-13.3 tokens/s on two threads, 14.9-15.5 on one.
cores="$(nproc 2>/dev/null || echo 2)"
export WEB_WORKERS="${WEB_WORKERS:-$(( cores >= 4 ? cores / 2 : 1 ))}"
export TORCH_THREADS="${TORCH_THREADS:-1}"
