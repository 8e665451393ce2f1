"""What a scenario did, read from the database (the source of truth), the run log and the calls.

- accepted: jobs created in the scenario's window by its users (HTTP and the suite's own echo jobs);
- lost: accepted jobs not ended (succeeded, failed, cancelled) once the stack had ``drain_s`` to finish
  them, plus job ids a client was given that have no row;
- run twice: from the run log (``JOB_RUN_LOG``): two runs of one job at the same time (a run ends at its
  ``end`` line, or when its process died), two runs under one claim, or a run that started after the job
  ended. A run cut short by its worker's death and then retried is *retried*, not run twice;
- 5xx: responses 500-599, except a 503 in JSON with ``Retry-After`` (the API's clean "Redis / the database
  is not answering"), counted apart; calls without a response (timeouts: hung) are counted apart too.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .load import HANG_S, Call

TERMINAL = ("succeeded", "failed", "cancelled")


def db_retry(operation, attempts: int = 30):
    """Run a query of the suite's own, riding out a database restart."""
    from django.db import InterfaceError, OperationalError, connection

    for attempt in range(attempts):
        try:
            return operation()
        except (OperationalError, InterfaceError):
            connection.close()
            if attempt == attempts - 1:
                raise
            time.sleep(1)
    raise AssertionError("unreachable")


@dataclass
class Run:
    job_id: str
    attempt: int
    pid: int
    start: float
    end: float | None = None


def runs_read(path: Path) -> dict[str, list[Run]]:
    """job id -> its runs, from the run log."""
    runs: dict[str, list[Run]] = {}
    open_runs: dict[tuple[str, int, int], Run] = {}
    if not path.exists():
        return runs
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) != 5:
            continue
        event, job_id, attempt, pid, when = parts[0], parts[1], int(parts[2]), int(parts[3]), float(parts[4])
        key = (job_id, attempt, pid)
        if event == "start":
            run = Run(job_id, attempt, pid, when)
            runs.setdefault(job_id, []).append(run)
            open_runs[key] = run
        elif event in ("end", "died") and key in open_runs:  # died: a worker's child process, seen by it
            open_runs.pop(key).end = when
    return runs


def run_twice_check(runs: list[Run], finished_at: float | None, death_time) -> str:
    """Why these runs of one job are a job run twice, or ""."""
    intervals = []
    for run in runs:
        end = run.end if run.end is not None else death_time(run.pid)
        if end is None:  # neither ended nor died: it raised (a transient error), so it ended by the job's end
            end = finished_at if finished_at is not None else run.start
        intervals.append((run.start, end, run))
    attempts = Counter(run.attempt for run in runs)
    if any(count > 1 for count in attempts.values()):
        return "two runs under one claim"
    intervals.sort(key=lambda item: item[0])
    for (_s1, e1, _r1), (s2, _e2, _r2) in zip(intervals, intervals[1:], strict=False):
        if s2 < e1 - 0.001:
            return "two runs at the same time"
    if finished_at is not None and any(run.start > finished_at + 0.001 for run in runs):
        return "a run after the job ended"
    return ""


@dataclass
class Row:
    scenario: str
    accepted: int = 0
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    lost: int = 0
    run_twice: int = 0
    retried: int = 0
    http_5xx: int = 0
    http_503: int = 0
    http_429: int = 0
    hung: int = 0
    calls: int = 0
    recover_s: float | None = None
    failed_reasons: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)  # the scenario's own checks that failed
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.run_twice or self.http_5xx or self.hung or self.problems)


def calls_count(row: Row, calls: list[Call]) -> None:
    row.calls = len(calls)
    for call in calls:
        if call.status == 503 and call.json and call.retry_after:
            row.http_503 += 1
        elif call.status >= 500:
            row.http_5xx += 1
            if len([n for n in row.notes if n.startswith("5xx")]) < 3:
                row.notes.append(f"5xx {call.status} {call.endpoint}: {call.note[:100]}")
        elif call.status == 429:
            row.http_429 += 1
        elif call.status == 0 and (call.note.startswith("timeout") or call.seconds >= HANG_S):
            row.hung += 1
        elif call.status == 0:
            row.http_5xx += 1  # no response at all: the server dropped the connection
            row.notes.append(f"no response: {call.endpoint}: {call.note}")


def jobs_account(row: Row, *, user_ids: list[int], since, until, run_log: Path, death_time, drain_s: float,
                 client_job_ids: set[str]) -> list:
    """Fill ``row`` from the rows of the window (waiting up to ``drain_s`` for them to end); returns the jobs."""
    from inference.models import InferenceJob

    def window():
        return list(InferenceJob.objects.filter(owner_id__in=user_ids, created_at__gte=since, created_at__lte=until))

    deadline = time.monotonic() + drain_s
    jobs = db_retry(window)
    while any(job.status not in TERMINAL for job in jobs) and time.monotonic() < deadline:
        time.sleep(1)
        jobs = db_retry(window)
    row.accepted = len(jobs)
    statuses = Counter(job.status for job in jobs)
    row.succeeded, row.failed, row.cancelled = statuses["succeeded"], statuses["failed"], statuses["cancelled"]
    row.lost = sum(1 for job in jobs if job.status not in TERMINAL)
    row.failed_reasons = Counter(job.error[:110] for job in jobs if job.status == "failed")
    known = {str(job.id) for job in jobs}
    missing = client_job_ids - known
    if missing:  # a client was told of a job that has no row in the window: look it up anywhere
        found = set(map(str, db_retry(lambda: list(InferenceJob.objects.filter(id__in=missing).values_list(
            "id", flat=True)))))
        row.lost += len(missing - found)
    runs = runs_read(run_log)
    for job in jobs:
        job_runs = runs.get(str(job.id), [])
        if len(job_runs) > 1 or job.attempts > 1:
            row.retried += 1
        finished = job.finished_at.timestamp() if job.finished_at else None
        why = run_twice_check(job_runs, finished, death_time)
        if why:
            row.run_twice += 1
            row.notes.append(f"run twice: job {job.id}: {why}")
    return jobs
