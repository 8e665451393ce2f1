"""scripts/run.sh (make run) for real: its own persisted Redis, and a stop that ends every process in bounded time.

run.sh keeps everything in ``DATA_DIR`` (a temporary folder here), starts its own
Redis on ``RUN_REDIS_PORT`` (a free port in 6400-6499) because ``REDIS_URL`` is
unset, and runs on a free ``PORT``. It sources scripts/setup.sh, which
reinstalls .venv when requirements/ changed: the test is skipped then, rather
than reinstall a virtual environment that may be shared.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
import requests

from .redisserver import free_port

ROOT = Path(__file__).resolve().parents[2]
STOP_BOUND_S = 15  # run.sh's own bound is 10 s (STOP_TIMEOUT_S)


def _installed() -> bool:
    want = hashlib.sha256(b"".join(p.read_bytes() for p in sorted((ROOT / "requirements").glob("*.txt"))))
    stamp = ROOT / ".venv" / ".installed"
    return stamp.exists() and stamp.read_text().strip() == want.hexdigest()[:16]


def _free_tcp_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _processes() -> dict[int, tuple[int, int, str, str]]:
    """pid -> (ppid, pgid, state, command line), for every process."""
    out = subprocess.run(["ps", "-eo", "pid=,ppid=,pgid=,stat=,args="], capture_output=True, text=True).stdout
    table = {}
    for line in out.splitlines():
        pid, ppid, pgid, stat, *args = line.split(None, 4)
        table[int(pid)] = (int(ppid), int(pgid), stat, args[0] if args else "")
    return table


def _alive(pids) -> list[str]:
    table = _processes()
    return [f"{pid} {table[pid][3]}" for pid in pids if pid in table and not table[pid][2].startswith("Z")]


def _stack_env(data_dir: Path, port: int, redis_port: int) -> dict[str, str]:
    # What tests/testenv.py set for this test run is not the stack's: it gets its own Redis and SQLite.
    dropped = {"REDIS_URL", "CELERY_BROKER_URL", "DATABASE_URL", "SECRET_KEY", "LOCAL_MODELS_FILE",
               "DJANGO_SETTINGS_MODULE", "WORKER_PRELOAD_MODELS"}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(DATA_DIR=str(data_dir), PORT=str(port), RUN_REDIS_PORT=str(redis_port), WEB_WORKERS="1",
               PYTHONUNBUFFERED="1")
    return env


def _read_until(process: subprocess.Popen, marker: str, timeout: float, seen: list[str]) -> None:
    deadline = time.monotonic() + timeout
    os.set_blocking(process.stdout.fileno(), False)
    buffer = ""
    while time.monotonic() < deadline:
        chunk = process.stdout.read()
        if chunk:
            buffer += chunk.decode(errors="replace")
            seen.append(chunk.decode(errors="replace"))
            if marker in buffer:
                return
        elif process.poll() is not None:
            break
        time.sleep(0.2)
    raise AssertionError(f"run.sh did not print {marker!r} in {timeout} s; it printed:\n{''.join(seen)}")


@pytest.mark.skipif(not _installed(), reason=".venv is not installed for requirements/ (run make install)")
def test_sigterm_ends_every_process_run_sh_started_within_bounded_time(tmp_path):
    data_dir = tmp_path / "data"
    port, redis_port = _free_tcp_port(), free_port()
    env = _stack_env(data_dir, port, redis_port)
    process = subprocess.Popen(["bash", "scripts/run.sh"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True)
    seen: list[str] = []
    groups: set[int] = set()
    try:
        _read_until(process, "Ctrl-C stops everything", 300, seen)

        # The URL came once the worker had loaded every installed model (warm start), not before.
        printed = "".join(seen)
        assert "Waiting for the worker to load its models" in printed, printed
        assert printed.index("Models warm") < printed.index("URL: "), printed
        health = requests.get(f"http://127.0.0.1:{port}/api/health", timeout=10).json()
        assert health["workers"] == 1 and health["models"], health
        assert set(health["models"].values()) == {"warm"}, health

        # No REDIS_URL: its own Redis, keeping an append-only file in DATA_DIR/redis.
        stack_redis = redis.Redis(port=redis_port, socket_timeout=5)
        assert stack_redis.config_get("appendonly") == {"appendonly": "yes"}
        assert Path(stack_redis.config_get("dir")["dir"]) == (data_dir / "redis").resolve()
        redis_pid = stack_redis.info("server")["process_id"]

        # The worker is busy with a long job when the stop comes (a warm shutdown would wait for it).
        submit = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", LONG_JOB], cwd=ROOT, capture_output=True, text=True,
            env={**env, "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
                 "SECRET_KEY": (data_dir / "secret_key").read_text().strip()}, timeout=120)
        assert "running" in submit.stdout, submit.stdout + submit.stderr

        table = _processes()
        children = [pid for pid, (ppid, *_rest) in table.items() if ppid == process.pid]
        groups = {table[pid][1] for pid in children} | {table[redis_pid][1]}
        started = [pid for pid, (_, pgid, stat, _) in table.items() if pgid in groups and not stat.startswith("Z")]
        commands = " | ".join(table[pid][3] for pid in started)
        for expected in ("gunicorn", "runworker", "redis-server"):
            assert expected in commands, commands
        assert len(started) >= 4, commands  # gunicorn's master and worker, the Celery worker, Redis

        process.send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        process.wait(timeout=STOP_BOUND_S)
        while _alive(started) and time.monotonic() - stopped_at < STOP_BOUND_S:
            time.sleep(0.2)
        left = _alive(started) + _alive(pid for pid, row in _processes().items() if row[1] in groups)
        assert not left, f"still running {time.monotonic() - stopped_at:.1f} s after SIGTERM: {left}"
        assert time.monotonic() - stopped_at < STOP_BOUND_S
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        for group in groups:  # whatever a failed stop left behind
            try:
                os.killpg(group, signal.SIGKILL)
            except ProcessLookupError:
                pass


LONG_JOB = """
import time
from django.contrib.auth import get_user_model
from inference.models import InferenceJob
from inference.jobs import job_submit
user = get_user_model().objects.get(username="demo")
job = job_submit(user=user, api_key=None, kind_name="echo", model_id=None, allow_internal=True,
                 data={"text": "long", "sleep_ms": 300000})
for _ in range(600):
    job.refresh_from_db()
    if job.status != "queued":
        break
    time.sleep(0.1)
print(job.status)
"""
