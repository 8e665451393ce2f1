"""Running jobs on a worker: claim, execute, record the outcome, publish it.

A job is claimed with a conditional update, so a message delivered twice never
runs a job twice; an outcome is written only while the job is still running
under that claim.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from .. import events
from ..kinds.base import ItemResult
from ..models import InferenceJob, JobStatus
from ..registry import kind_get
from ..selectors import model_resolve
from .recovery import job_requeue_or_fail

logger = logging.getLogger(__name__)


def _ms(delta: timedelta) -> int:
    return max(0, int(delta.total_seconds() * 1000))


def job_claim(*, job_id: UUID | str) -> InferenceJob | None:
    """Move a job from queued to running; None when another delivery got there first."""
    claimed = job_claim_batch(job_ids=[job_id])
    return claimed[0] if claimed else None


def job_claim_batch(*, job_ids: Sequence[UUID | str]) -> list[InferenceJob]:
    """Move the queued jobs among ``job_ids`` to running with one conditional UPDATE; returns those claimed.

    A job that another delivery claimed first, or that was cancelled, is left
    out. The claimed rows are read back by their new ``started_at`` (this
    claim's timestamp), so a row claimed by someone else is never returned.
    """
    now = timezone.now()
    claimed = InferenceJob.objects.filter(id__in=job_ids, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, started_at=now, attempts=F("attempts") + 1,
    )
    if not claimed:
        return []
    rows = InferenceJob.objects.select_related("owner").filter(id__in=job_ids, status=JobStatus.RUNNING,
                                                                started_at=now)
    by_id = {str(job.id): job for job in rows}
    return [by_id[str(job_id)] for job_id in dict.fromkeys(job_ids) if str(job_id) in by_id]


def job_execute(*, jobs: Sequence[InferenceJob], **context: Any) -> list[ItemResult]:
    """Run claimed jobs of one kind and one model as one batch; one result per job."""
    from ..loading import backend_get  # the worker side: imports torch

    first = jobs[0]
    kind = kind_get(first.task_kind)
    spec = model_resolve(model_id=first.model_id, user=first.owner, include_unready=True)
    if kind is None or spec is None:
        return [ItemResult(error=f"The model '{first.model_id}' is no longer available.") for _ in jobs]
    backend = backend_get(spec)
    return kind.run(backend, [job.input for job in jobs], job_ids=[job.id for job in jobs], **context)


def _outcome_fields(job: InferenceJob, result: ItemResult, compute_ms: int, batch_size: int,
                    now: datetime) -> dict[str, Any]:
    started = job.started_at or now
    failed = result.error is not None
    return {
        "status": JobStatus.FAILED if failed else JobStatus.SUCCEEDED,
        "output": None if failed else result.output,
        "error": result.error if failed else "",
        "finished_at": now,
        "compute_ms": compute_ms,
        "queue_ms": _ms(started - job.created_at),
        "batch_size": batch_size,
    }


_OUTCOME_COLUMNS = ("status", "output", "error", "finished_at", "compute_ms", "queue_ms", "batch_size")


def _outcomes_write(jobs: Sequence[InferenceJob], outcomes: Sequence[dict[str, Any]]) -> list[bool]:
    """One parametrised UPDATE run for every job (``executemany``), each only while the job is still
    running under its claim; returns which rows were updated.

    The batch's hot path: the ORM would compile one UPDATE per job. Values go
    through the fields' own conversions, so SQLite and PostgreSQL store what
    the ORM would.
    """

    meta = InferenceJob._meta
    quote = connection.ops.quote_name
    fields = [meta.get_field(name) for name in _OUTCOME_COLUMNS]
    id_field, status_field, started_field = (meta.get_field(name) for name in ("id", "status", "started_at"))
    sql = (f"UPDATE {quote(meta.db_table)} SET {', '.join(f'{quote(f.column)} = %s' for f in fields)} "
           f"WHERE {quote(id_field.column)} = %s AND {quote(status_field.column)} = %s "
           f"AND {quote(started_field.column)} = %s")
    rows = [
        [f.get_db_prep_save(outcome[f.name], connection) for f in fields]
        + [id_field.get_db_prep_value(job.id, connection), JobStatus.RUNNING.value,
           started_field.get_db_prep_value(job.started_at, connection)]
        for job, outcome in zip(jobs, outcomes, strict=True)
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)
        updated = cursor.rowcount
    if updated == len(jobs):
        return [True] * len(jobs)
    # Some jobs were cancelled (or re-queued by the sweeper) meanwhile: find which rows took this outcome.
    finished_at = outcomes[0]["finished_at"]
    took = {str(pk) for pk in InferenceJob.objects.filter(
        id__in=[job.id for job in jobs], finished_at=finished_at,
        status__in=(JobStatus.SUCCEEDED, JobStatus.FAILED)).values_list("id", flat=True)}
    return [str(job.id) in took for job in jobs]


def _done_result(job: InferenceJob) -> dict[str, Any]:
    return {"output": job.output, "error": job.error, "model_id": job.model_id, "task_kind": job.task_kind,
            "queue_ms": job.queue_ms, "compute_ms": job.compute_ms, "batch_size": job.batch_size}


def jobs_finish(*, jobs: Sequence[InferenceJob], results: Sequence[ItemResult], compute_ms: Sequence[int],
                batch_size: int) -> list[bool]:
    """Record the outcomes of a batch in one transaction, then publish each job's done event.

    Each row is updated only while it is still running under this claim (same
    ``started_at``): a job cancelled meanwhile, or re-queued by the sweeper and
    claimed again, keeps its newer state and this outcome is dropped.
    """
    now = timezone.now()
    outcomes = [_outcome_fields(job, result, ms, batch_size, now)
                for job, result, ms in zip(jobs, results, compute_ms, strict=True)]
    with transaction.atomic():
        recorded = _outcomes_write(jobs, outcomes)
    for job, outcome, done in zip(jobs, outcomes, recorded, strict=True):
        if done:
            for name, value in outcome.items():
                setattr(job, name, value)
    # The done message carries the outcome, so a waiting request answers without reading the row.
    events.publish_many([(job.id, "done", {"status": job.status, "result": _done_result(job)})
                         for job, done in zip(jobs, recorded, strict=True) if done])
    return recorded


def job_finish(*, job: InferenceJob, result: ItemResult, compute_ms: int, batch_size: int = 1) -> bool:
    """Record a job's outcome; False when it was cancelled meanwhile (the outcome is dropped)."""
    return jobs_finish(jobs=[job], results=[result], compute_ms=[compute_ms], batch_size=batch_size)[0]


def _execute_timed(jobs: Sequence[InferenceJob], **context: Any) -> tuple[list[ItemResult], int]:
    started = time.perf_counter()
    results = job_execute(jobs=jobs, **context)
    if len(results) != len(jobs):
        raise RuntimeError(f"the task kind returned {len(results)} results for {len(jobs)} jobs")
    return results, int((time.perf_counter() - started) * 1000)


def _execute_alone(job: InferenceJob, **context: Any) -> tuple[ItemResult, int] | None:
    """One job on its own; None when it hit a transient error and was re-queued (or failed)."""
    started = time.perf_counter()
    try:
        result = _execute_timed([job], **context)[0][0]
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
    return result, int((time.perf_counter() - started) * 1000)


def jobs_run(*, job_ids: Sequence[UUID | str], **context: Any) -> list[InferenceJob]:
    """Claim, execute and record a batch of jobs of one kind and model; returns the jobs claimed.

    One claim UPDATE, one ``kind.run`` (one forward pass where the backend
    allows it), one transaction for the outcomes. Each job gets its own
    result or error, its own queue time, and as compute time its share of the
    batch (the batch's time divided by its size). If the batched run raises,
    the jobs run again one by one, so only the job whose input is bad fails.
    """
    jobs = job_claim_batch(job_ids=job_ids)
    if not jobs:
        return []
    if len(jobs) == 1:
        outcome = _execute_alone(jobs[0], **context)
        if outcome is not None:
            jobs_finish(jobs=jobs, results=[outcome[0]], compute_ms=[outcome[1]], batch_size=1)
        return jobs
    try:
        results, batch_ms = _execute_timed(jobs, **context)
    except TRANSIENT_ERRORS as exc:
        logger.warning("a batch of %d jobs hit a transient error: %s", len(jobs), exc)
        for job in jobs:
            job_requeue_or_fail(job=job, reason=f"a temporary failure on the worker ({type(exc).__name__})")
        return jobs
    except Exception as exc:
        logger.warning("a batch of %d %s jobs failed (%s); running them one by one", len(jobs),
                       jobs[0].task_kind, exc)
        for job in jobs:
            outcome = _execute_alone(job, **context)
            if outcome is not None:
                jobs_finish(jobs=[job], results=[outcome[0]], compute_ms=[outcome[1]], batch_size=1)
        return jobs
    share = batch_ms // len(jobs)
    jobs_finish(jobs=jobs, results=results, compute_ms=[share] * len(jobs), batch_size=len(jobs))
    return jobs


def job_run(*, job_id: UUID | str) -> InferenceJob | None:
    """Claim, execute and record one job on its own (streaming jobs). Returns None when the claim failed."""
    job = job_claim(job_id=job_id)
    if job is None:
        return None
    context = {"on_text": job_stream_callback(job)} if job.input.get("stream") else {}
    outcome = _execute_alone(job, **context)
    if outcome is not None:
        job_finish(job=job, result=outcome[0], compute_ms=outcome[1])
    return job


def _user_message(exc: Exception) -> str:
    from celery.exceptions import SoftTimeLimitExceeded

    if isinstance(exc, SoftTimeLimitExceeded):
        return f"The job took longer than the limit of {settings.JOB_SOFT_TIME_LIMIT_S} s and was stopped."
    text = str(exc).strip() or type(exc).__name__
    return f"The model could not run this input: {text}"


def _transient_errors() -> tuple[type[BaseException], ...]:
    import redis
    from django.db import InterfaceError, OperationalError

    return (OperationalError, InterfaceError, redis.ConnectionError, redis.TimeoutError)


TRANSIENT_ERRORS = _transient_errors()


class JobCancelled(Exception):
    """Raised inside a running job (between generated tokens) when it was cancelled."""


def job_stream_callback(job: InferenceJob):
    """For a streaming job: publish the text so far, and stop if the job was cancelled."""

    def on_text(_index: int, text: str) -> None:
        if events.cancel_flag_get(job.id):
            raise JobCancelled()
        events.publish(job.id, "text", output=text)

    return on_text
