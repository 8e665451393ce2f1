"""API test fixtures: images, a job-making helper, and a live ASGI server (uvicorn) on the test database."""

from __future__ import annotations

import base64
import io
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.core.cache import cache

from tests.workers import ROOT, test_database_url


def png_bytes(size: tuple[int, int] = (8, 8), color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def data_uri(raw: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(raw).decode()}"


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Rate-limit windows live in the (Redis) cache: start each test with none."""
    cache.clear()
    yield


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """``uvicorn config.asgi:application`` in a subprocess, on the test database (production serves ASGI)."""

    def __init__(self, extra_env: dict[str, str] | None = None, name: str = "uvicorn") -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        log_dir = Path(settings.DATA_DIR) / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{name}.log"
        env = {**os.environ, "DATABASE_URL": test_database_url(), "PYTHONUNBUFFERED": "1", **(extra_env or {})}
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1",
                 "--port", str(self.port), "--log-level", "warning"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"uvicorn exited; see {self.log_path}")
            try:
                requests.get(f"{self.url}/api/tasks", timeout=2)
                return
            except requests.ConnectionError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"uvicorn did not start; see {self.log_path}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


@pytest.fixture(scope="session")
def live_api(django_db_setup, django_db_blocker, tiny_models):
    """A live ASGI server; its settings are the environment's, not the ``settings`` fixture's."""
    server = LiveServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def live_api_without_workers(django_db_setup, django_db_blocker, tiny_models):
    """A live ASGI server whose jobs go to an in-memory broker no worker reads: they stay queued.

    For fuzzing: thousands of generated jobs must not keep the shared worker busy for minutes.
    """
    server = LiveServer(extra_env={"CELERY_BROKER_URL": "memory://"}, name="uvicorn-no-workers")
    yield server
    server.stop()
