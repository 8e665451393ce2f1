"""A whole Forwardpass stack of the suite's own, on this machine, in one temporary folder.

- PostgreSQL: a cluster of its own (``initdb`` into the folder, ``pg_ctl``, as the ``postgres`` user when
  run as root), on its own port, so restarting it never touches the system's PostgreSQL;
- Redis with an append-only file (``appendfsync everysec``, Redis's default for AOF) on its own port;
- the web server as ``scripts/run.sh`` starts it (gunicorn with uvicorn workers, ASGI);
- Celery workers (``manage.py runworker``) under :class:`Supervisor`, which restarts a worker that died
  the way systemd's ``Restart=always``, ``RestartSec=1`` would (and gives up after 10 starts in 60 s).

The environment of every process is :attr:`Stack.env`; the suite's own process uses it too (Django set up
on the same database and Redis) to create users and read the jobs' rows.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable


def _pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: float(p.parent.name), reverse=True)
    for folder in versions:
        if (folder / name).exists():
            return str(folder / name)
    raise RuntimeError(f"{name} not found: install postgresql")


def _as_postgres(args: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its commands as the postgres user then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return args


def stop_on_sigterm() -> None:
    """SIGTERM (a CI timeout, ``kill``) unwinds like Ctrl-C, so the stack's ``finally`` stops what it started."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def wait_until(check, timeout: float, interval: float = 0.2, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(interval)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


def rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def _same(argv: list[str]) -> list[str]:
    return argv


class Postgres:
    """A PostgreSQL cluster in ``folder`` on ``host:port`` (trust auth for ``trust_net``, user postgres).

    ``wrap`` runs its commands elsewhere (``make cluster``: inside a network namespace).
    """

    def __init__(self, folder: Path, port: int, host: str = "127.0.0.1", trust_net: str = "",
                 wrap=_same) -> None:
        self.folder = folder
        self.data = folder / "pgdata"
        self.port = port
        self.host = host
        self.trust_net = trust_net
        self.wrap = wrap
        self.log = folder / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgres://postgres@{self.host}:{self.port}/forwardpass"

    def _ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = self.wrap(_as_postgres([_pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.log), *args]))
        return subprocess.run(command, check=check, capture_output=True, text=True, timeout=120)

    def start(self) -> Postgres:
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            postgres = pwd.getpwnam("postgres")
            os.chown(self.folder, postgres.pw_uid, postgres.pw_gid)
        if not (self.data / "PG_VERSION").exists():
            subprocess.run(_as_postgres([_pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                                         "--no-sync", "-E", "UTF8"]), check=True, capture_output=True, timeout=120)
            if self.trust_net:
                with open(self.data / "pg_hba.conf", "a") as hba:
                    hba.write(f"host all all {self.trust_net} trust\n")
        options = (f"-p {self.port} -c listen_addresses={self.host} -c unix_socket_directories={self.folder} "
                   "-c max_connections=200 -c fsync=on")
        self._ctl("-w", "-t", "60", "-o", options, "start")
        exists = subprocess.run(self.wrap(_as_postgres([_pg_bin("psql"), "-h", self.host, "-p", str(self.port),
                                                        "-U", "postgres", "-tAc",
                                                        "SELECT 1 FROM pg_database WHERE datname='forwardpass'"])),
                                capture_output=True, text=True, check=True).stdout.strip()
        if exists != "1":
            subprocess.run(self.wrap(_as_postgres([_pg_bin("createdb"), "-h", self.host, "-p", str(self.port),
                                                   "-U", "postgres", "forwardpass"])), check=True,
                           capture_output=True)
        return self

    def restart(self) -> None:
        """``pg_ctl restart -m fast``: what ``pg_ctlcluster ... restart`` does (every connection dropped)."""
        self._ctl("-w", "-t", "60", "-m", "fast", "restart")

    def pids(self) -> list[int]:
        try:
            postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return []
        return descendants(postmaster)

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._ctl("-w", "-t", "30", "-m", "fast", "stop", check=False)


class Redis:
    """redis-server in ``folder`` on ``host:port`` with an append-only file; kill -9, freeze, restart from the
    AOF. ``wrap`` runs it elsewhere (inside a network namespace); ``ping`` then runs only where it can."""

    def __init__(self, folder: Path, port: int, host: str = "127.0.0.1", wrap=_same, password: str = "") -> None:
        self.folder = folder
        self.port = port
        self.host = host
        self.wrap = wrap
        self.password = password  # off loopback Redis refuses clients without one (protected mode)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/0"

    def start(self) -> Redis:
        self.folder.mkdir(parents=True, exist_ok=True)
        args = ["redis-server", "--port", str(self.port), "--bind", self.host, "--dir", str(self.folder),
                "--save", "", "--appendonly", "yes", "--appendfsync", "everysec",
                "--logfile", str(self.folder / "redis.log")]
        if self.password:
            args += ["--requirepass", self.password]
        log_offset = (self.folder / "redis.log").stat().st_size if (self.folder / "redis.log").exists() else 0
        self.process = subprocess.Popen(self.wrap(args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True)
        if self.wrap is _same:
            wait_until(self.ping, 20, 0.05, f"redis on {self.port}")
        else:
            wait_until(lambda: b"Ready to accept connections" in (self.folder / "redis.log").read_bytes()[log_offset:],
                       20, 0.05, f"redis on {self.host}:{self.port}")
        return self

    def client(self, timeout: float = 1.0):
        import redis

        return redis.Redis.from_url(self.url, socket_connect_timeout=timeout, socket_timeout=timeout)

    def ping(self) -> bool:
        client = self.client(0.5)
        try:
            return bool(client.ping())
        finally:
            client.close()

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def freeze(self) -> None:
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    def pids(self) -> list[int]:
        return [self.process.pid] if self.process and self.process.poll() is None else []

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Service:
    """One long-running process of the stack, in its own process group, its output in ``log``."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    ready_text: bytes = b""  # the process is ready once its log shows this (workers: " ready.")
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    log_offset: int = 0
    starts: list[float] = field(default_factory=list)

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.log_offset = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(self.argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        self.started_at = time.time()
        self.starts.append(self.started_at)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def ready(self) -> bool:
        if not self.alive():
            return False
        if not self.ready_text:
            return True
        with open(self.log, "rb") as log:
            log.seek(self.log_offset)
            return self.ready_text in log.read()

    def kill(self) -> None:
        """SIGKILL the whole process group, as a crash or the OOM killer would."""
        if self.alive():
            os.killpg(self.process.pid, signal.SIGKILL)

    def stop(self, timeout: float = 15) -> None:
        if not self.alive():
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


class Supervisor:
    """Restarts a supervised process that exited, like systemd's ``Restart=always`` with ``RestartSec=1``;
    after 10 starts within 60 s it gives up on that process (systemd's start limit). Records each death."""

    RESTART_S = 1.0
    START_LIMIT = (10, 60.0)

    def __init__(self, services: list[Service]) -> None:
        self.services = services
        self.deaths: list[tuple[str, int, float]] = []  # (name, pid, when)
        self.given_up: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="supervisor", daemon=True)

    def start(self) -> Supervisor:
        for service in self.services:
            service.start()
        self._thread.start()
        return self

    def _loop(self) -> None:
        dead_since: dict[str, float] = {}
        while not self._stop.wait(0.1):
            for service in self.services:
                if service.name in self.given_up or service.process is None:
                    continue
                if service.process.poll() is None:
                    continue
                now = time.time()
                if service.name not in dead_since:
                    dead_since[service.name] = now
                    self.deaths.append((service.name, service.process.pid, now))
                    # a group's other processes (none for a threads-pool worker) go with it
                    try:
                        os.killpg(service.process.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                if now - dead_since[service.name] < self.RESTART_S:
                    continue
                limit, window = self.START_LIMIT
                if len([t for t in service.starts if now - t < window]) >= limit:
                    self.given_up.add(service.name)
                    continue
                del dead_since[service.name]
                service.start()

    def death_time(self, pid: int) -> float | None:
        for _name, dead_pid, when in self.deaths:
            if dead_pid == pid:
                return when
        return None

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for service in self.services:
            service.stop()


@dataclass
class StackConfig:
    name: str  # "chaos" or "load": the folder's and the ports' owner
    pg_port: int
    redis_port: int
    web_port: int
    workers: list[tuple[str, str]]  # (name, comma-separated model ids); the first also runs the sweeper
    web_workers: int = 2
    extra_env: dict[str, str] = field(default_factory=dict)
    keep: bool = False


class Stack:
    """Everything of :class:`StackConfig`, started in order and stopped in reverse."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        base = Path(os.environ.get("OPS_TMPDIR", tempfile.gettempdir()))
        self.folder = Path(tempfile.mkdtemp(prefix=f"forwardpass-{config.name}-", dir=base))
        self.folder.chmod(0o755)  # the postgres user reads its own subfolder
        self.logs = self.folder / "logs"
        self.logs.mkdir()
        self.postgres = Postgres(self.folder / "postgres", config.pg_port)
        self.redis = Redis(self.folder / "redis", config.redis_port)
        self.run_log = self.folder / "runs.log"
        self.metrics_dir = self.folder / "prometheus"
        self.metrics_dir.mkdir()
        self.base_url = f"http://127.0.0.1:{config.web_port}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PROMETHEUS_"))},
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "PYTHONUNBUFFERED": "1",
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(40),
            "DATA_DIR": str(self.folder / "data"),
            "STATIC_MANIFEST": "0",
            "DATABASE_URL": self.postgres.url,
            "REDIS_URL": self.redis.url,
            "CELERY_BROKER_URL": self.redis.url,
            "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir),
            "JOB_RUN_LOG": str(self.run_log),
            "LOG_LEVEL": "WARNING",
            "TORCH_THREADS": "1",
            **config.extra_env,
        }
        self.web: Service | None = None
        self.workers: list[Service] = []
        self.supervisor: Supervisor | None = None

    # -- lifecycle ------------------------------------------------------------------------------------
    def start_data(self) -> None:
        self.postgres.start()
        self.redis.start()
        subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=self.env, check=True,
                       timeout=600)

    def start_processes(self, timeout: float = 300) -> None:
        self.web = Service("web", [str(ROOT / ".venv" / "bin" / "gunicorn"), "config.asgi:application",
                                   "-k", "uvicorn.workers.UvicornWorker", "--bind",
                                   f"127.0.0.1:{self.config.web_port}", "--workers", str(self.config.web_workers),
                                   "--graceful-timeout", "5", "--error-logfile", "-"],
                           self.env, self.logs / "web.log")
        for index, (name, models) in enumerate(self.config.workers):
            argv = [PYTHON, "manage.py", "runworker", f"--models={models}", f"--hostname={name}@%h",
                    f"--preload={models}", "--loglevel=INFO"]
            if index == 0:
                argv.append("--beat")
            self.workers.append(Service(name, argv, self.env, self.logs / f"{name}.log", ready_text=b" ready."))
        self.web.start()
        self.supervisor = Supervisor(self.workers).start()
        wait_until(lambda: urllib.request.urlopen(f"{self.base_url}/api/health", timeout=2).status == 200,
                   timeout, 0.5, "the web server's /api/health")
        self.wait_workers_ready(timeout)

    def wait_workers_ready(self, timeout: float = 300) -> float:
        """Seconds until every worker is up and has said ready."""
        started = time.monotonic()
        wait_until(lambda: all(worker.ready() for worker in self.workers), timeout, 0.2, "the workers")
        return time.monotonic() - started

    def stop(self) -> None:
        if self.supervisor:
            self.supervisor.stop()
        if self.web:
            self.web.stop()
        self.redis.stop()
        self.postgres.stop()
        if not self.config.keep:
            shutil.rmtree(self.folder, ignore_errors=True)

    # -- what runs now ----------------------------------------------------------------------------------
    def processes(self) -> dict[str, list[int]]:
        """Every process of the stack by role (the web's and workers' children included)."""
        found = {"postgres": self.postgres.pids(), "redis": self.redis.pids()}
        if self.web and self.web.alive():
            found["web"] = descendants(self.web.pid)
        for worker in self.workers:
            if worker.alive():
                found[worker.name] = descendants(worker.pid)
        return found

    def memory(self) -> dict[str, tuple[int, int]]:
        """Role -> (processes, summed RSS bytes)."""
        return {role: (len(pids), sum(rss_bytes(pid) for pid in pids)) for role, pids in self.processes().items()}

    def setup_django(self) -> None:
        """Point this process at the stack (its database and Redis) and set Django up."""
        os.environ.update({k: v for k, v in self.env.items() if k not in ("JOB_RUN_LOG",)})
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)  # the suite's own metrics stay in this process
        import django

        django.setup()
