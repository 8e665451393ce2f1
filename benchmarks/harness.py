"""Benchmark helpers: the worker and web server as subprocesses, timing, waiting on job events.

Everything runs on loopback, against the benchmark's own database
(``DATA_DIR=data/bench``) and Redis database 14; every loop is bounded.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import redis
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent


def p50(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def closed_loop(total: int, concurrency: int, one: Callable[[int], Any]) -> float:
    """``concurrency`` threads, each calling ``one(i)`` for the next ``i`` of ``range(total)`` when its last call
    returned; the calls a second."""
    counter = iter(range(total))
    lock = threading.Lock()

    def client() -> None:
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            one(i)

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        for future in [pool.submit(client) for _ in range(concurrency)]:
            future.result()
    return total / (time.perf_counter() - started)


def plot_curves(levels: list[int], rows: dict[str, list[float]], path: Path, *, xlabel: str, ylabel: str,
                title: str) -> None:
    """One line per row against ``levels`` (log 2 axis), saved as a PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, values in rows.items():
        ax.plot(levels, values, marker="o", label=label)
    ax.set_xscale("log", base=2)
    ax.set_xticks(levels, [str(level) for level in levels])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def timed(fn: Callable[[], Any], *, runs: int, warmup: int = 2) -> list[float]:
    """Wall-clock milliseconds of ``runs`` calls, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return times


class Service:
    """A subprocess in its own process group, logging to ``data/bench/logs/<name>.log``."""

    def __init__(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        self.name = name
        self.args = args
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        log_dir = Path(settings.DATA_DIR) / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> Service:
        log = open(self.log_path, "wb")
        self.process = subprocess.Popen(self.args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        return self

    def wait_until(self, ready: Callable[[], bool], *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited; see {self.log_path}")
            if ready():
                return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} was not ready within {timeout:.0f} s; see {self.log_path}")

    def log_has(self, text: bytes) -> bool:
        return text in self.log_path.read_bytes()[-50000:]

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def start_worker(preload: list[str], *, models: list[str] | None = None, name: str = "worker") -> Service:
    """``runworker`` preloading ``preload``; consuming every model's queue, or only those of ``models``."""
    only = [f"--models={','.join(models)}"] if models else []
    worker = Service(name, [sys.executable, "manage.py", "runworker", "--no-control", "--loglevel=INFO",
                            f"--hostname={name}@%h", f"--preload={','.join(preload)}", *only]).start()
    worker.wait_until(lambda: worker.log_has(b" ready."), timeout=300)
    return worker


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_web(port: int, workers: int) -> Service:
    web = Service("web", [str(Path(sys.executable).parent / "gunicorn"), "config.asgi:application",
                          "-k", "uvicorn.workers.UvicornWorker", "--bind", f"127.0.0.1:{port}",
                          "--workers", str(workers), "--graceful-timeout", "5"]).start()

    def answers() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    web.wait_until(answers, timeout=120)
    return web


def process_rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MiB."""
    import psutil

    proc = psutil.Process(pid)
    total = proc.memory_info().rss
    for child in proc.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20


def cpu_seconds_by_role(worker_pid: int, web_pid: int | None) -> dict[str, float]:
    """CPU seconds used so far by this process (the client), the worker, the web server, Redis, the database
    and everything else on the machine (kernel threads writing files included)."""
    import psutil

    def tree(pid: int | None) -> set[int]:
        if pid is None:
            return set()
        try:
            proc = psutil.Process(pid)
            return {pid} | {child.pid for child in proc.children(recursive=True)}
        except psutil.Error:
            return set()

    worker, web, me = tree(worker_pid), tree(web_pid), os.getpid()
    totals: dict[str, float] = {}
    for proc in psutil.process_iter(["name"]):
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        name = proc.info["name"] or ""
        role = ("client" if proc.pid == me else "worker" if proc.pid in worker else "web" if proc.pid in web
                else "redis" if name.startswith("redis") else "database" if name.startswith("postgres")
                else "other")
        totals[role] = totals.get(role, 0.0) + times.user + times.system
    return totals


class CpuMeter:
    """Core-milliseconds per job, by role, over a measurement: ``with meter.measure(jobs): ...``."""

    def __init__(self, worker_pid: int, web_pid: int | None) -> None:
        self.worker_pid = worker_pid
        self.web_pid = web_pid
        self.last: dict[str, float] = {}

    def measure(self, jobs: int):
        meter = self

        class _Measure:
            def __enter__(self):
                self.before = cpu_seconds_by_role(meter.worker_pid, meter.web_pid)
                self.started = time.perf_counter()
                return self

            def __exit__(self, *exc):
                after = cpu_seconds_by_role(meter.worker_pid, meter.web_pid)
                elapsed = time.perf_counter() - self.started
                used = {role: after.get(role, 0.0) - self.before.get(role, 0.0) for role in after}
                meter.last = {role: seconds * 1000 / jobs for role, seconds in used.items() if seconds > 0}
                meter.last["cores_busy"] = sum(used.values()) / elapsed
                return False

        return _Measure()

    def describe(self) -> str:
        parts = [f"{role} {ms:.2f}" for role, ms in sorted(self.last.items(), key=lambda item: -item[1])
                 if role != "cores_busy" and ms >= 0.05]
        busy = self.last.get("cores_busy", 0.0)
        return f"core-ms per job: {', '.join(parts)}; cores busy {busy:.2f} of {os.cpu_count()}"


class JobEvents:
    """Listens to every job's done event (one pattern subscription) and records when it arrived."""

    def __init__(self) -> None:
        self._done: dict[str, float] = {}
        self._events: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._pubsub = redis.Redis.from_url(settings.REDIS_URL).pubsub(ignore_subscribe_messages=True)
        self._pubsub.psubscribe(**{"fp:job:*": self.on_message})
        self._thread = self._pubsub.run_in_thread(sleep_time=0.01, daemon=True, exception_handler=self._ignore)

    @staticmethod
    def _ignore(exc, pubsub, thread) -> None:  # pragma: no cover - only on a Redis failure
        time.sleep(0.05)

    def _event(self, job_id: str) -> threading.Event:
        with self._lock:
            return self._events.setdefault(job_id, threading.Event())

    def on_message(self, message: dict[str, Any]) -> None:
        data = json.loads(message["data"])
        if data.get("event") != "done":
            return
        job_id = message["channel"].decode().rsplit(":", 1)[1]
        with self._lock:
            self._done.setdefault(job_id, time.perf_counter())
        self._event(job_id).set()

    def wait(self, job_id: str, *, timeout: float = 120.0) -> float:
        """The time (perf_counter) the job's done event arrived; falls back to the row if it was missed."""
        from inference.models import InferenceJob

        event = self._event(job_id)
        deadline = time.monotonic() + timeout
        while not event.wait(0.5):
            if InferenceJob.objects.filter(id=job_id).values_list("finished_at", flat=True).first():
                return time.perf_counter()
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} did not finish in {timeout:.0f} s")
        with self._lock:
            self._events.pop(job_id, None)
            return self._done.pop(job_id)

    def stop(self) -> None:
        self._thread.stop()

