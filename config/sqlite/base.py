"""SQLite (the embedded default) with writers queued on a file lock.

SQLite lets one writer in at a time; a writer that finds the database locked
waits in SQLite's busy handler, which sleeps 1, 2, 5, 10, 15 ... ms between
tries. Under concurrent jobs (the web process inserting, a worker claiming and
recording) those sleeps left the cores idle: a worker's claim waited 10-35 ms
for a lock held well under a millisecond.

Here every write transaction first takes an exclusive ``flock`` on
``<database>.writelock`` (one per connection, so threads and processes queue
alike), then ``BEGIN IMMEDIATE``; the lock is released at commit or
rollback. A single write statement outside a transaction takes it for the
statement. Threads of one process first queue on a lock of the process (they
wait without using the CPU); the one at its head polls the file lock every
0.05-1 ms, against other processes only. Both waits are bounded by the
``timeout`` option, then fail like SQLite would ("database is locked").
Readers never take it (WAL lets them read during a write).
"""

from __future__ import annotations

import fcntl
import os
import threading
import time

from django.db.backends.sqlite3 import base
from django.db.utils import OperationalError

_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER")


# One lock per database file and process: the threads of a process wait on it, not on the file lock
# (polled, each waiting thread waking up to 20,000 times a second under load: the web process's
# inserts spent 19 % of its busy samples in that loop, docs/perf/README.md).
_IN_PROCESS: dict[str, threading.Lock] = {}
_IN_PROCESS_GUARD = threading.Lock()


def _process_lock(path: str) -> threading.Lock:
    with _IN_PROCESS_GUARD:
        return _IN_PROCESS.setdefault(path, threading.Lock())


def _forked() -> None:
    """A forked child (Celery's pool, its beat) starts with no lock held: a thread of the parent may
    have held one at the fork, and that thread does not exist here. Its connections are new too."""
    global _IN_PROCESS_GUARD
    _IN_PROCESS_GUARD = threading.Lock()
    for path in list(_IN_PROCESS):
        _IN_PROCESS[path] = threading.Lock()


os.register_at_fork(after_in_child=_forked)


class WriteLock:
    """An exclusive ``flock`` on a file beside the database, held by one connection at a time."""

    def __init__(self, path: str | None, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        self.fd: int | None = None
        self.held = False
        self.in_process = _process_lock(path) if path is not None else None

    def acquire(self) -> None:
        if self.held or self.path is None or self.in_process is None:
            return
        if self.fd is None:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + self.timeout
        if not self.in_process.acquire(timeout=self.timeout):
            raise OperationalError("database is locked")
        try:
            delay = 0.00005
            while True:
                try:
                    fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise OperationalError("database is locked") from None
                    time.sleep(delay)
                    delay = min(delay * 2, 0.001)
        except BaseException:
            self.in_process.release()
            raise
        self.held = True

    def release(self) -> None:
        if self.held:
            if self.fd is not None:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            if self.in_process is not None:
                self.in_process.release()
        self.held = False

    def close(self) -> None:
        self.release()
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class WriteLockingCursorWrapper(base.SQLiteCursorWrapper):
    """Takes the write lock around a write statement run outside a transaction."""

    write_lock: WriteLock

    def _locked(self, query: str) -> bool:
        if self.write_lock.held or self.connection.in_transaction:
            return False
        return query.lstrip()[:7].upper().startswith(_WRITES)

    def _run(self, method, query, args):
        if not self._locked(query):
            return method(query, args)
        self.write_lock.acquire()
        try:
            return method(query, args)
        finally:
            self.write_lock.release()

    def execute(self, query, params=None):
        return self._run(super().execute, query, params)

    def executemany(self, query, param_list):
        return self._run(super().executemany, query, param_list)


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params):
        connection = super().get_new_connection(conn_params)
        name = str(self.settings_dict["NAME"])
        in_memory = name == ":memory:" or "mode=memory" in name
        self.write_lock = WriteLock(None if in_memory else f"{name}.writelock",
                                    float(self.settings_dict["OPTIONS"].get("timeout", 5)))
        return connection

    def create_cursor(self, name=None):
        cursor = self.connection.cursor(factory=WriteLockingCursorWrapper)
        cursor.write_lock = self.write_lock
        return cursor

    def _start_transaction_under_autocommit(self):
        self.write_lock.acquire()
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self.write_lock.release()
            raise

    def _commit(self):
        try:
            return super()._commit()
        finally:
            if not self.connection.in_transaction:
                self.write_lock.release()

    def _rollback(self):
        try:
            return super()._rollback()
        finally:
            if not self.connection.in_transaction:
                self.write_lock.release()

    def _close(self):
        try:
            return super()._close()
        finally:
            lock = getattr(self, "write_lock", None)
            if lock is not None:
                lock.close()
