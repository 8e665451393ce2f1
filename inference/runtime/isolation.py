"""A child process of this worker that runs calls one at a time, so a call that kills its process kills only it.

The child is started with the *spawn* method, never fork: a worker process has torch's and Celery's threads
running, and a forked copy of a process with threads can deadlock on a lock some thread held. A spawned child
starts bare: it sets up Django from the environment it inherited, runs its initializer (a dotted name, imported
after the set-up: the worker's own imports), says it is ready, then runs each call it is sent (a function picklable
by name, and its arguments) and answers with how it ended.

The child ignores SIGTERM and SIGINT, which a stopping worker's process group receives too: its parent decides
when it stops (a warm shutdown must not look like a crash). It exits on its own when its parent dies.

Nothing here knows jobs: ``inference.jobs.quarantine`` runs retried jobs in such a child.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

logger = logging.getLogger(__name__)

# How often a waiting parent looks at its stop event and the child's health.
POLL_S = 0.05


class IsolationUnavailable(RuntimeError):
    """The child process could not be started (or died before it was ready)."""


@dataclass
class Outcome:
    """How one call ended: ``done`` (it returned), ``raised`` (``error``), ``died`` (the child ended: a crash,
    a kill, ``exitcode``), ``stopped`` (the stop event was set: the child was killed) or ``timeout`` (it ran
    past its limit: the child was killed)."""

    kind: str
    error: BaseException | None = None
    exitcode: int | None = None


class IsolatedProcess:
    """One spawned child; the caller runs one call at a time through it (it is not thread-safe)."""

    def __init__(self, *, initializer: str = "", name: str = "isolated") -> None:
        self.initializer = initializer
        self.name = name
        self.process: Any = None  # a multiprocessing SpawnProcess once started
        self.conn: Connection | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def alive(self) -> bool:
        return self.process is not None and self.process.is_alive()

    def start(self, *, stop: threading.Event, timeout: float) -> None:
        """Start the child and wait until it is ready; raises ``IsolationUnavailable`` if it does not get there
        (it died, ``timeout`` passed, or ``stop`` was set meanwhile)."""
        context = multiprocessing.get_context("spawn")
        self.conn, child_conn = context.Pipe()
        self.process = context.Process(target=_child_main, args=(child_conn, os.getpid(), self.initializer),
                                       name=self.name, daemon=True)
        self.process.start()
        child_conn.close()  # the child holds its end: when the child ends, reading here sees EOF
        deadline = time.monotonic() + timeout
        while not self.conn.poll(POLL_S):
            if stop.is_set() or time.monotonic() > deadline or not self.process.is_alive():
                why = "stopping" if stop.is_set() else f"exit code {self.process.exitcode}" \
                    if not self.process.is_alive() else f"not ready after {timeout:.0f} s"
                self.kill()
                raise IsolationUnavailable(f"the {self.name} process did not start ({why})")
        try:
            self.conn.recv()  # ("ready", None)
        except (EOFError, OSError) as exc:
            self.kill()
            raise IsolationUnavailable(f"the {self.name} process died while starting "
                                       f"(exit code {self.process.exitcode})") from exc

    def call(self, function: Callable[..., Any], *args: Any, stop: threading.Event,
             timeout: float | None = None) -> Outcome:
        """Run ``function(*args)`` in the child and wait for it, killing the child when ``stop`` is set or after
        ``timeout`` seconds (None: no limit)."""
        assert self.conn is not None and self.process is not None, "start() first"
        try:
            self.conn.send((function, args))
        except (OSError, ValueError):  # the child is gone already (a broken pipe)
            return self._died()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self.conn.poll(POLL_S):
                try:
                    kind, error = self.conn.recv()
                except (EOFError, OSError):
                    return self._died()
                except Exception as exc:  # an exception the child sent that does not unpickle here
                    return Outcome("raised", RuntimeError(f"the call raised an error ({exc})"))
                return Outcome(kind, error)
            if not self.process.is_alive() and not self.conn.poll(0):
                return self._died()
            if stop.is_set():
                self.kill()
                return Outcome("stopped", exitcode=self.process.exitcode)
            if deadline is not None and time.monotonic() > deadline:
                self.kill()
                return Outcome("timeout", exitcode=self.process.exitcode)

    def _died(self) -> Outcome:
        self.process.join(timeout=5)
        return Outcome("died", exitcode=self.process.exitcode)

    def kill_now(self) -> None:
        """SIGKILL the child, from any thread: the thread waiting on a call sees it die."""
        if self.process is not None and self.process.is_alive():
            self.process.kill()

    def kill(self) -> None:
        """SIGKILL the child (it ignores SIGTERM) and reap it."""
        if self.process is not None and self.process.is_alive():
            self.process.kill()
        if self.process is not None:
            self.process.join(timeout=5)
        if self.conn is not None:
            self.conn.close()

    def close(self) -> None:
        """Ask an idle child to exit, and kill it if it does not within a few seconds."""
        if self.conn is not None and self.alive():
            try:
                self.conn.send(None)
                self.process.join(timeout=5)
            except (OSError, ValueError):
                pass
        self.kill()


def _orphan_watch(parent_pid: int) -> None:
    """End the child when its parent is gone (a SIGKILL of the worker leaves nobody to stop it)."""
    while os.getppid() == parent_pid:
        time.sleep(0.5)
    os._exit(1)


def _child_main(conn: Connection, parent_pid: int, initializer: str) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_orphan_watch, args=(parent_pid,), name="orphan-watch", daemon=True).start()
    import django  # a spawned process starts bare: Django's settings come from the environment it inherited

    django.setup()
    if initializer:
        module, _, name = initializer.rpartition(".")
        getattr(importlib.import_module(module), name)()
    conn.send(("ready", None))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the parent closed its end
            return
        except Exception as exc:  # a function that does not unpickle here
            conn.send(("raised", RuntimeError(f"the call could not be read ({exc})")))
            continue
        if message is None:
            return
        function, args = message
        try:
            function(*args)
        except BaseException as exc:  # the call's outcome, sent back as it is
            logger.warning("isolated call %s raised %r", getattr(function, "__qualname__", function), exc)
            try:
                conn.send(("raised", exc))
            except Exception:  # an exception that does not pickle
                conn.send(("raised", RuntimeError(f"{type(exc).__name__}: {exc}")))
        else:
            conn.send(("done", None))
