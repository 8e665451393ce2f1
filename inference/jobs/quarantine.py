"""A job claimed again after its worker died runs in a child process of its own: the quarantine.

A job claimed for the second time or later lost its worker last time: a crash, an OOM kill, or a poison input
that kills whatever process runs it. With the threads pool a worker process runs many jobs at once, so such a
job run there again would take every job in flight in that process down with it, each losing an attempt, and
an ordinary job could fail after ``JOB_MAX_ATTEMPTS`` beside a poison job. Instead it runs in this process's
quarantine: one long-lived child process (``runtime.isolation``, spawned, never forked), started on the first
retried job, running retried jobs one after another and keeping the models it loaded warm until it has been
idle for ``IDLE_EXIT_S``. If the child dies, only the job it was running is charged: re-queued while attempts
remain, else failed with the reason the sweeper gives, and the next retried job gets a new child.

This process keeps the claim: it tracks the job (heartbeats, the hand-back when the worker stops) from the claim
until its outcome, while the child runs it through the same execute path (``run``, handed in by
``jobs.execute``) and records the outcome once. A worker that stops kills the child and hands the job back; a
child still busy after ``JOB_HARD_TIME_LIMIT_S`` is killed and the job fails with that reason. Jobs on their
first attempt never come here: they keep the batched path in the worker process.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import ExitStack
from datetime import datetime

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from .. import metrics, runlog
from ..models import InferenceJob, JobStatus
from ..runtime.isolation import IsolatedProcess, IsolationUnavailable
from ..runtime.running import jobs_tracked, stopping
from .recovery import job_fail, job_requeue_or_fail, jobs_hand_back

logger = logging.getLogger(__name__)

# An idle child exits after this long, giving back the memory of the models it loaded.
IDLE_EXIT_S = 300.0
# A child that does not say it is ready within this long (importing torch on a busy machine) is given up.
START_TIMEOUT_S = 300.0
# What a job is told when its process died under it: the sweeper's words for a worker that died.
DIED = "the worker running it stopped before it finished"

RunOne = Callable[[InferenceJob], None]

_enabled = False
_initializer = ""
_queue: queue.SimpleQueue[tuple[InferenceJob, RunOne, ExitStack, Future]] = queue.SimpleQueue()
_lock = threading.Lock()
_thread: threading.Thread | None = None
_child: IsolatedProcess | None = None  # used by the quarantine's thread only


def quarantine_enable(*, enabled: bool, initializer: str = "") -> None:
    """Turn the quarantine on in this process (a threads-pool worker, ``JOB_ISOLATE_RETRIES``) or off.

    ``initializer``: the dotted name of what a new child runs after setting up Django (the worker's imports).
    """
    global _enabled, _initializer
    _enabled, _initializer = enabled, initializer


def quarantine_stop() -> None:
    """The worker is stopping: end the job running in the child now, before its job is handed back (its
    partial work is dropped either way, and it must not still be running when another worker claims it)."""
    child = _child
    if child is not None:
        child.kill_now()


def job_isolate(*, job: InferenceJob, run: RunOne) -> Future | None:
    """Queue a claimed job for this process's quarantine; the future resolves once its outcome is recorded.

    None when the quarantine is off here (the caller runs the job itself). ``run``: runs one claimed job and
    records its outcome; called in the child, so picklable by name (a module-level function).
    """
    if not _enabled:
        return None
    global _thread
    held = ExitStack()
    held.enter_context(jobs_tracked([job]))  # this process beats for it and hands it back, until its outcome
    future: Future = Future()
    _queue.put((job, run, held, future))
    with _lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_loop, name="quarantine", daemon=True)
            _thread.start()
    return future


def _loop() -> None:
    global _child
    while True:
        try:
            job, run, held, future = _queue.get(timeout=IDLE_EXIT_S)
        except queue.Empty:
            if _child is not None:
                logger.info("quarantine idle for %.0f s: its process %s exits", IDLE_EXIT_S, _child.pid)
                _child.close()
                metrics.process_dead(_child.pid)
                _child = None
            continue
        try:
            _run_isolated(job, run)
        except BaseException as exc:  # the waiting Celery task raises it (a database error: its message is retried)
            future.set_exception(exc)
        else:
            future.set_result(None)
        finally:
            held.close()
            close_old_connections()


def _run_isolated(job: InferenceJob, run: RunOne) -> None:
    global _child
    claim = {str(job.id): job.started_at}
    if stopping.is_set():
        jobs_hand_back(jobs=claim)
        return
    if not InferenceJob.objects.filter(id=job.id, status=JobStatus.RUNNING, started_at=job.started_at).exists():
        _let_go(job)  # cancelled while it waited here
        return
    if _child is None or not _child.alive():
        _child = IsolatedProcess(initializer=_initializer, name="quarantine")
        try:
            _child.start(stop=stopping, timeout=START_TIMEOUT_S)
        except IsolationUnavailable as exc:
            _child = None
            if stopping.is_set():
                jobs_hand_back(jobs=claim)
                return
            logger.error("job %s: %s", job.id, exc)
            job_requeue_or_fail(job=job, reason="a temporary failure on the worker (its isolated process did not "
                                                "start)")
            _let_go(job)
            return
        logger.info("quarantine process %s started for retried jobs", _child.pid)
    limit = settings.JOB_HARD_TIME_LIMIT_S
    outcome = _child.call(_child_job_run, run, str(job.id), job.started_at, stop=stopping,
                          timeout=limit if limit > 0 else None)
    if outcome.kind in ("died", "stopped", "timeout"):
        pid, _child = _child.pid, None
        runlog.runs_died([job], pid or 0)
        metrics.process_dead(pid)
        if outcome.kind == "stopped" or stopping.is_set():
            jobs_hand_back(jobs=claim)
        elif outcome.kind == "timeout":
            logger.warning("job %s ran past %s s in quarantine process %s: killed", job.id, limit, pid)
            job_fail(job=job, error=f"The job took longer than the limit of {limit} s and was stopped "
                                    "(JOB_HARD_TIME_LIMIT_S).")
        else:
            logger.warning("job %s (attempt %d) killed its quarantine process %s (exit code %s)", job.id,
                           job.attempts, pid, outcome.exitcode)
            job_requeue_or_fail(job=job, reason=DIED)
    _let_go(job)
    if outcome.kind == "raised" and outcome.error is not None:
        raise outcome.error


def _let_go(job: InferenceJob) -> None:
    """A job cancelled under this claim frees its in-flight slot (the child lets go of one it ran)."""
    InferenceJob.objects.filter(id=job.id, status=JobStatus.CANCELLED, started_at=job.started_at,
                                released_at__isnull=True).update(released_at=timezone.now())


def _child_job_run(run: RunOne, job_id: str, started_at: datetime) -> None:
    """In the child: run one job its parent claimed, while the parent still holds that claim."""
    try:
        job = InferenceJob.objects.select_related("owner").filter(
            id=job_id, status=JobStatus.RUNNING, started_at=started_at).first()
        if job is not None:  # else cancelled, or no longer this claim's: the parent lets go of it
            run(job)
    finally:
        close_old_connections()
