"""The two servers of ``make bench-peers``, each started, warmed, measured and stopped on its own.

``Forwardpass`` is what ``make run`` starts (gunicorn with two uvicorn workers,
``runworker --beat``, a Redis of its own with an append-only file, SQLite), with
the per-user limits raised so that the benchmark measures the platform, not its
limits (every request is still authenticated by key, rate-limited, metered and
recorded as a job row). ``BentoML`` is ``bentoml serve`` of
``benchmarks/peers/bentoml_service.py`` from the scratch virtualenv.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import urllib.request
from pathlib import Path

import psutil

from benchmarks.harness import Service, free_port
from benchmarks.peers.load import post_bytes

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except Exception:
        return False


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes and all their descendants (still alive)."""
    seen: set[int] = set()
    total = 0.0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        for proc in procs:
            if proc.pid in seen:
                continue
            seen.add(proc.pid)
            try:
                times = proc.cpu_times()
            except psutil.Error:
                continue
            total += times.user + times.system + times.children_user + times.children_system
    return total


class Peer:
    name = ""
    path = ""

    def __init__(self) -> None:
        self.port = free_port()
        self.services: list[Service] = []

    def body(self, text: str) -> dict:
        raise NotImplementedError

    def headers(self) -> dict[str, str]:
        return {}

    def request(self, text: str) -> bytes:
        return post_bytes(HOST, self.port, self.path, self.body(text), self.headers())

    def pids(self) -> list[int]:
        return [s.process.pid for s in self.services if s.process is not None]

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()
        self.services = []


class BentoML(Peer):
    name = "BentoML"
    path = "/encode"

    def __init__(self, venv: Path, model_path: Path) -> None:
        super().__init__()
        self.venv = venv
        self.model_path = model_path

    def body(self, text: str) -> dict:
        return {"texts": [text]}

    def start(self) -> float:
        started = time.perf_counter()
        env = {"PEER_MODEL_PATH": str(self.model_path), "BENTOML_HOME": str(ROOT / "data" / "peers" / "bentoml"),
               "BENTOML_DO_NOT_TRACK": "True", "PATH": f"{self.venv / 'bin'}:{os.environ.get('PATH', '')}"}
        service = Service("peer-bentoml", [str(self.venv / "bin" / "bentoml"), "serve", "bentoml_service:Encoder",
                                           "--working-dir", str(ROOT / "benchmarks" / "peers"),
                                           "--host", HOST, "--port", str(self.port)], env=env).start()
        self.services.append(service)
        service.wait_until(lambda: _answers(f"http://{HOST}:{self.port}/readyz"), timeout=300)
        return time.perf_counter() - started


class Forwardpass(Peer):
    name = "Forwardpass"
    path = "/api/text-vectorisation"

    def __init__(self, key: str, env: dict[str, str]) -> None:
        super().__init__()
        self.key = key
        self.env = env

    def body(self, text: str) -> dict:
        return {"text": text}

    def roles(self) -> dict[str, int]:
        """The processes to profile: the worker, and each web worker (gunicorn's children)."""
        worker, web = self.services[1].process, self.services[2].process
        roles = {"worker": worker.pid} if worker else {}
        if web:
            for i, child in enumerate(psutil.Process(web.pid).children()):
                roles[f"web{i + 1}"] = child.pid
        return roles

    def headers(self) -> dict[str, str]:
        return {"x-api-key": self.key}

    def start(self) -> float:
        started = time.perf_counter()
        python = sys.executable
        redis_dir = Path(self.env["DATA_DIR"]) / "redis"
        redis_dir.mkdir(parents=True, exist_ok=True)
        redis_port = int(self.env["REDIS_URL"].rsplit(":", 1)[1].split("/")[0])
        redis = Service("peer-fp-redis", ["redis-server", "--port", str(redis_port), "--bind", HOST,
                                          "--dir", str(redis_dir), "--appendonly", "yes", "--save", ""],
                        env=self.env).start()
        self.services.append(redis)
        redis.wait_until(lambda: _port_open(redis_port), timeout=30)
        worker = Service("peer-fp-worker", [python, "manage.py", "runworker", "--beat", "--loglevel=WARNING"],
                         env=self.env).start()
        self.services.append(worker)
        web = Service("peer-fp-web", [str(Path(python).parent / "gunicorn"), "config.asgi:application",
                                      "-k", "uvicorn.workers.UvicornWorker", "--bind", f"{HOST}:{self.port}",
                                      "--workers", self.env.get("WEB_WORKERS", "1"), "--graceful-timeout", "5",
                                      "--access-logfile", "-", "--error-logfile", "-"], env=self.env).start()
        self.services.append(web)
        web.wait_until(lambda: _model_warm(f"http://{HOST}:{self.port}/api/health", "all-minilm-l6-v2"), timeout=300)
        return time.perf_counter() - started


def _model_warm(url: str, model_id: str) -> bool:
    """The health endpoint answers and says a worker has ``model_id`` loaded (the worker's warm start)."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return json.load(response).get("models", {}).get(model_id) == "warm"
    except Exception:
        return False


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False
