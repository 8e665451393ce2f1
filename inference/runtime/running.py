"""What this worker process is running now: heartbeats, stop checks and the hand-back at shutdown.

Every job a worker claims, and every build, is tracked here while it runs. A
heartbeat thread refreshes their ``heartbeat_at`` every
``JOB_HEARTBEAT_INTERVAL_S``, so the sweeper can tell a job whose worker died
(stale heartbeat) from one that simply runs long (never re-queued, so never
run twice). ``inference.jobs.control.BatchControl`` reads ``stopping`` and
``job_deadline`` to tell a running batch when to stop.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from ..models import InferenceJob, JobStatus, ModelVersion

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_jobs: dict[str, datetime] = {}  # job id -> its claim's started_at
_holds: Counter[str] = Counter()  # job id -> how many blocks track it under that claim
_builds: dict[int, datetime] = {}  # version id -> its claim's build_started_at
stopping = threading.Event()  # set when the worker begins to shut down
_heartbeat: threading.Thread | None = None


@contextmanager
def jobs_tracked(jobs: Sequence) -> Iterator[None]:
    """Track claimed jobs (heartbeats, shutdown hand-back) while the block runs them."""
    held = [(str(job.id), job.started_at) for job in jobs]
    _hold(held)
    try:
        yield
    finally:
        _let_go(held)


@contextmanager
def claim_tracked(job_ids: Sequence, started_at: datetime) -> Iterator[None]:
    """Track jobs from just before their claim (by the claim's timestamp), so a shutdown between the
    claim and the run still hands them back: the hand-back only moves rows this claim took."""
    held = [(str(job_id), started_at) for job_id in job_ids]
    _hold(held)
    try:
        yield
    finally:
        _let_go(held)


def _hold(held: Sequence[tuple[str, datetime]]) -> None:
    """Track each (job id, claim) once more: a job stays tracked until every block holding it has ended (the
    claim's, the run's, the quarantine's while a retried job waits for its child process)."""
    with _lock:
        for job_id, started_at in held:
            if _jobs.get(job_id) == started_at:
                _holds[job_id] += 1
            else:  # a newer claim of the job replaces an older one
                _jobs[job_id], _holds[job_id] = started_at, 1


def _let_go(held: Sequence[tuple[str, datetime]]) -> None:
    with _lock:
        for job_id, started_at in held:
            if _jobs.get(job_id) == started_at:
                _holds[job_id] -= 1
                if _holds[job_id] <= 0:
                    del _jobs[job_id], _holds[job_id]


@contextmanager
def build_tracked(version_id: int, started_at: datetime) -> Iterator[None]:
    with _lock:
        _builds[version_id] = started_at
    try:
        yield
    finally:
        with _lock:
            if _builds.get(version_id) == started_at:
                del _builds[version_id]


def tracked_jobs() -> dict[str, datetime]:
    with _lock:
        return dict(_jobs)


def heartbeat_beat() -> None:
    """Refresh the heartbeat of every job and build this process runs (two UPDATEs at most)."""
    with _lock:
        job_ids, build_ids = list(_jobs), list(_builds)
    now = timezone.now()
    if job_ids:
        # A job cancelled while running still beats: it holds its in-flight slot until released.
        InferenceJob.objects.filter(id__in=job_ids, status__in=(JobStatus.RUNNING, JobStatus.CANCELLED),
                                    released_at__isnull=True).update(heartbeat_at=now)
    if build_ids:
        ModelVersion.objects.filter(id__in=build_ids).update(build_heartbeat_at=now)


def _heartbeat_loop(also: Callable[[], None] | None) -> None:
    interval = max(0.1, settings.JOB_HEARTBEAT_INTERVAL_S)
    while not stopping.wait(interval):
        try:
            heartbeat_beat()
        except Exception:  # a database hiccup: the next beat tries again
            logger.warning("heartbeat failed", exc_info=True)
            close_old_connections()
        finally:
            close_old_connections()
        if also is not None:
            try:
                also()
            except Exception:  # the next beat tries again
                logger.warning("heartbeat: %s failed", getattr(also, "__name__", also), exc_info=True)


def heartbeat_start(*, also: Callable[[], None] | None = None) -> None:
    """Start this process's heartbeat thread (once); workers call it at start-up. ``also`` runs on every
    beat too (the warm models' key, ``inference.jobs.warm.warm_publish``)."""
    global _heartbeat
    with _lock:
        if _heartbeat is not None and _heartbeat.is_alive():
            return
        _heartbeat = threading.Thread(target=_heartbeat_loop, args=(also,), name="job-heartbeat", daemon=True)
        _heartbeat.start()


def heartbeat_stale_before(now: datetime | None = None) -> datetime:
    """A running job or build whose heartbeat is older than this has lost its worker."""
    return (now or timezone.now()) - timedelta(seconds=settings.JOB_HEARTBEAT_STALE_S)


def job_deadline(started_at: datetime) -> datetime:
    return started_at + timedelta(seconds=settings.JOB_SOFT_TIME_LIMIT_S)
