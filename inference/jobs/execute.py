"""Running jobs on a worker: claim, execute, record the outcome (``outcomes``), publish it.

A job is claimed with a conditional update, so a message delivered twice never
runs a job twice; an outcome is written only while the job is still running
under that claim. A job claimed again after its worker died runs in a process
of its own (``quarantine``).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Sequence
from concurrent.futures import Future
from datetime import datetime
from typing import Any
from uuid import UUID

import redis
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.utils import timezone

from .. import metrics, runlog
from ..catalog import ModelSpec
from ..kinds.base import ItemResult
from ..kinds.stopping import stop_check
from ..models import InferenceJob
from ..registry import kind_get
from ..runtime.running import claim_tracked, jobs_tracked, stopping
from . import events
from .control import BatchControl
from .outcomes import DB_ERRORS, db_retried, jobs_finish, jobs_release
from .quarantine import job_isolate
from .recovery import job_requeue_or_fail, jobs_hand_back
from .selectors import model_resolve, model_resolve_key
from .statements import jobs_claim_rows

logger = logging.getLogger(__name__)


def job_claim(*, job_id: UUID | str) -> InferenceJob | None:
    """Move a job from queued to running; None when another delivery got there first."""
    claimed = job_claim_batch(job_ids=[job_id])
    return claimed[0] if claimed else None


def job_claim_batch(*, job_ids: Sequence[UUID | str], now: datetime | None = None) -> list[InferenceJob]:
    """Move the queued jobs among ``job_ids`` to running with one conditional UPDATE; returns those claimed.

    A job that another delivery claimed first, or that was cancelled, is left
    out. The UPDATE returns the rows it took (``statements.jobs_claim_rows``),
    so a row claimed by someone else is never returned (a row's owner is read
    when it is used).
    A transient database error is retried (``JOB_DB_RETRIES``), then raised.
    ``now``: the claim's timestamp (the caller tracks the jobs by it before the claim).
    """
    now = now or timezone.now()

    def claim() -> list[InferenceJob]:
        return jobs_claim_rows(job_ids=job_ids, now=now)

    rows = db_retried(claim, "claiming jobs")
    by_id = {str(job.id): job for job in rows}
    return [by_id[str(job_id)] for job_id in dict.fromkeys(job_ids) if str(job_id) in by_id]


def job_model_resolve(job: InferenceJob) -> ModelSpec | None:
    """The exact model ``job`` was accepted for, from its own ``model_key`` and its own owner only.

    Never from another job of its batch: two users' models of one name, or two versions of one model,
    are different keys. Jobs recorded before keys existed resolve by id for their own owner.
    """
    if job.model_key:
        return model_resolve_key(key=job.model_key, owner_id=job.owner_id)
    return model_resolve(model_id=job.model_id, user=job.owner, include_unready=True)


def _execute_timed(jobs: Sequence[InferenceJob], **context: Any) -> tuple[list[ItemResult], int, int]:
    """Run a batch of jobs of one kind and one exact model; returns (results, compute ms, load ms).

    Loading the model (the first job of a model on this worker) is timed apart and not part of the
    compute time, so a cold start is not charged to the user.
    """
    # Lazily: the model cache imports torch, and the web process imports this module (job_submit's package).
    from ..runtime.loading import backend_get

    first = jobs[0]
    if any(job.model_identity != first.model_identity or job.task_kind != first.task_kind for job in jobs):
        raise RuntimeError("a batch mixes models or task kinds")  # never: jobs_run groups them
    kind = kind_get(first.task_kind)
    spec = job_model_resolve(first)
    if kind is None or spec is None:
        return [ItemResult(error=f"The model '{first.model_id}' is no longer available (it was deleted or "
                                 "replaced while the job waited); submit the job again.") for _ in jobs], 0, 0
    started = time.perf_counter()
    backend = backend_get(spec)
    loaded = time.perf_counter()
    runlog.runs_started(jobs)
    results = kind.run(backend, [job.input for job in jobs], job_ids=[job.id for job in jobs], **context)
    runlog.runs_ended(jobs)
    if len(results) != len(jobs):
        raise RuntimeError(f"the task kind returned {len(results)} results for {len(jobs)} jobs")
    metrics.batch_ran(job=first, size=len(jobs), seconds=time.perf_counter() - loaded)
    return results, int((time.perf_counter() - loaded) * 1000), int((loaded - started) * 1000)




def _deadline_message() -> str:
    return (f"The job took longer than the limit of {settings.JOB_SOFT_TIME_LIMIT_S} s and was stopped "
            "(JOB_SOFT_TIME_LIMIT_S); ask for less work (fewer or shorter texts, fewer new tokens).")


def _execute_alone(job: InferenceJob, **context: Any) -> tuple[ItemResult, int, int] | None:
    """One job on its own; None when it hit a transient error and was re-queued (or failed)."""
    started = time.perf_counter()
    load_ms = 0
    try:
        [result], _, load_ms = _execute_timed([job], **context)
    except JobCancelled:
        result = ItemResult(error="Cancelled.")  # the row already says cancelled; this is dropped
    except TRANSIENT_ERRORS as exc:
        # Retried by re-queueing, bounded by JOB_MAX_ATTEMPTS; if even that
        # fails, the sweeper finds the job later.
        logger.warning("job %s hit a transient error: %s", job.id, exc)
        job_requeue_or_fail(job=job, reason=f"a temporary failure on the worker ({type(exc).__name__})")
        return None
    except Exception as exc:  # a model failure is the job's outcome, not a worker crash
        logger.exception("job %s failed", job.id)
        result = ItemResult(error=_user_message(exc))
    return result, max(0, int((time.perf_counter() - started) * 1000) - load_ms), load_ms


def _run_claimed(jobs: list[InferenceJob], **context: Any) -> None:
    """Execute and record claimed jobs of one exact model and kind, as one batch where possible."""
    control = BatchControl(jobs)
    started = time.perf_counter()
    token = stop_check.set(control)
    try:
        with jobs_tracked(jobs):
            outcome = _run_batch(jobs, **context)
            if outcome is None:
                return
            results, compute_ms, load_ms, batch_size = outcome
            if control.reason == "shutdown":
                # Stopped early because the worker is stopping: a partial output must not be recorded,
                # and the jobs go back to their queue now (the stopping signal's own hand-back may have
                # looked before this batch stopped, or after it let go of them).
                jobs_hand_back(jobs={str(job.id): job.started_at for job in jobs})
                return
            if control.reason == "deadline":
                results = [ItemResult(error=_deadline_message()) for _ in jobs]
            jobs_finish(jobs=jobs, results=results, compute_ms=compute_ms, batch_size=batch_size, load_ms=load_ms)
    except BaseException:
        with contextlib.suppress(Exception):  # cancelled jobs still free their slot and are charged
            spent = int((time.perf_counter() - started) * 1000) // len(jobs)
            jobs_release(jobs=jobs, compute_ms=[spent] * len(jobs))
        raise
    finally:
        stop_check.reset(token)


def _run_batch(jobs: list[InferenceJob], **context: Any) -> tuple[list[ItemResult], list[int], int, int] | None:
    """Results, compute ms per job, load ms and batch size; None when the jobs were re-queued instead."""
    if len(jobs) == 1:
        outcome = _execute_alone(jobs[0], **context)
        if outcome is None:
            return None
        return [outcome[0]], [outcome[1]], outcome[2], 1
    try:
        results, batch_ms, load_ms = _execute_timed(jobs, **context)
    except TRANSIENT_ERRORS as exc:
        logger.warning("a batch of %d jobs hit a transient error: %s", len(jobs), exc)
        for job in jobs:
            job_requeue_or_fail(job=job, reason=f"a temporary failure on the worker ({type(exc).__name__})")
        return None
    except Exception as exc:
        logger.warning("a batch of %d %s jobs failed (%s); running them one by one", len(jobs),
                       jobs[0].task_kind, exc)
        for job in jobs:
            outcome = _execute_alone(job, **context)
            if outcome is not None:
                jobs_finish(jobs=[job], results=[outcome[0]], compute_ms=[outcome[1]], batch_size=1,
                            load_ms=outcome[2])
        return None
    return results, [batch_ms // len(jobs)] * len(jobs), load_ms, len(jobs)


def jobs_run(*, job_ids: Sequence[UUID | str], **context: Any) -> dict[str, Future]:
    """Claim, execute and record a batch of jobs of one kind and model; returns the jobs it handed on.

    One claim UPDATE, one ``kind.run`` (one forward pass where the backend
    allows it), one transaction for the outcomes. Each job gets its own
    result or error, its own queue time, and as compute time its share of the
    batch (the batch's time divided by its size, the model's loading apart).
    If the batched run raises, the jobs run again one by one, so only the job
    whose input is bad fails. Jobs of different exact models (owners,
    versions) or kinds never share a run, whatever batch they arrived in.
    A job claimed for its second time or later (its last worker died) runs alone, in this process's
    quarantine where there is one (``quarantine``): the returned futures, by job id, resolve once those
    jobs' outcomes are recorded.
    """
    now = timezone.now()
    handed: dict[str, Future] = {}
    with claim_tracked(job_ids, now):  # a shutdown from here on hands back what this claim takes
        jobs = job_claim_batch(job_ids=job_ids, now=now)
        if jobs and stopping.is_set():  # the worker began to stop meanwhile: run nothing
            jobs_hand_back(jobs={str(job.id): job.started_at for job in jobs})
            return handed
        groups: dict[tuple[str, str], list[InferenceJob]] = {}
        for job in jobs:
            groups.setdefault((job.model_identity, job.task_kind), []).append(job)
        for group in groups.values():
            # A job on its second attempt or later lost its worker last time (a crash, an OOM kill, a poison
            # input): it runs alone, in a process of its own where it can, so a job that kills its process
            # fails by itself after its attempts and takes no other job down with it again.
            for job in [job for job in group if job.attempts > 1]:
                if (isolated := job_isolate(job=job, run=_run_one)) is not None:
                    handed[str(job.id)] = isolated
                else:
                    _run_claimed([job], **context)
            fresh = [job for job in group if job.attempts <= 1]
            if fresh:
                _run_claimed(fresh, **context)
    return handed


def job_run(*, job_id: UUID | str) -> InferenceJob | None:
    """Claim, execute and record one job on its own (streaming jobs). Returns None when the claim failed."""
    now = timezone.now()
    with claim_tracked([job_id], now):
        claimed = job_claim_batch(job_ids=[job_id], now=now)
        if not claimed:
            return None
        job = claimed[0]
        if stopping.is_set():
            jobs_hand_back(jobs={str(job.id): job.started_at})
            return job
        isolated = job_isolate(job=job, run=_run_one) if job.attempts > 1 else None
        if isolated is not None:
            isolated.result()  # its outcome is recorded by its own process
        else:
            _run_one(job)
    return job


def _run_one(job: InferenceJob) -> None:
    """Run one claimed job on its own, streaming if it asked to (here, or in the quarantine's process)."""
    _run_claimed([job], **({"on_text": job_stream_callback(job)} if job.input.get("stream") else {}))


def _user_message(exc: Exception) -> str:
    if isinstance(exc, SoftTimeLimitExceeded):
        return f"The job took longer than the limit of {settings.JOB_SOFT_TIME_LIMIT_S} s and was stopped."
    text = str(exc).strip() or type(exc).__name__
    return f"The model could not run this input: {text}"


# With Redis's, the database errors (``outcomes.DB_ERRORS``) are those that re-queue a job rather than fail it.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (*DB_ERRORS, redis.ConnectionError, redis.TimeoutError)


class JobCancelled(Exception):
    """Raised inside a running job (between generated tokens) when it was cancelled."""


def job_stream_callback(job: InferenceJob):
    """For a streaming job: publish the text so far, and stop if the job was cancelled."""

    def on_text(_index: int, text: str) -> None:
        if events.cancel_flag_get(job.id):
            raise JobCancelled()
        events.publish(job.id, "text", output=text)

    return on_text
