"""Real Celery workers for tests: subprocesses of ``manage.py runworker`` on the test database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def test_database_url() -> str:
    """The URL of the database the tests use now (after pytest-django created it)."""
    db = connection.settings_dict
    if db["ENGINE"].endswith(("sqlite3", "config.sqlite")):
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


class Worker:
    """``python manage.py runworker`` in its own process group."""

    def __init__(self, *, name: str, models: str = "", pool: str = "prefork", concurrency: int = 1,
                 extra_env: dict[str, str | None] | None = None, log_dir: Path | None = None) -> None:
        """``extra_env`` adds to this process's environment; a value of None removes the variable (the
        worker then runs with the setting's default)."""
        self.name = name
        self.args = [sys.executable, "manage.py", "runworker", f"--pool={pool}", f"--concurrency={concurrency}",
                     f"--hostname={name}@%h", "--loglevel=INFO"]
        if models:
            self.args.append(f"--models={models}")
        env = {**os.environ, "DATABASE_URL": test_database_url(), "PYTHONUNBUFFERED": "1", **(extra_env or {})}
        self.env = {key: value for key, value in env.items() if value is not None}
        log_dir = log_dir or Path(settings.DATA_DIR) / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"worker-{name}.log"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> Worker:
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(self.args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited; see {self.log_path}")
            if b" ready." in self.log_path.read_bytes()[-20000:]:
                return self
            time.sleep(0.2)
        raise RuntimeError(f"worker {self.name} did not become ready; see {self.log_path}")

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool children), as a crash would."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def flush_queues() -> None:
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
