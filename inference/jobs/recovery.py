"""Jobs nobody will finish otherwise: re-queue or fail after a transient error, cancel, sweep."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from .. import metrics
from ..models import InferenceJob, JobStatus
from ..runtime.running import heartbeat_stale_before
from . import events
from .submit import job_enqueue

logger = logging.getLogger(__name__)


def job_requeue_or_fail(*, job: InferenceJob, reason: str) -> str:
    """Give a running job back to the queue, or fail it after its last attempt."""
    running = InferenceJob.objects.filter(id=job.id, status=JobStatus.RUNNING, started_at=job.started_at)
    if job.attempts < settings.JOB_MAX_ATTEMPTS:
        with transaction.atomic():
            if running.update(status=JobStatus.QUEUED, started_at=None, heartbeat_at=None):
                job_enqueue(job=job)
                return "requeued"
        return "unchanged"
    failed = job_fail(job=job, error=f"The job failed after {job.attempts} attempts: {reason}.")
    return "failed" if failed else "unchanged"


def job_fail(*, job: InferenceJob, error: str) -> bool:
    """Fail a running job with ``error``, only while it is still running under its claim; False otherwise."""
    now = timezone.now()
    if InferenceJob.objects.filter(id=job.id, status=JobStatus.RUNNING, started_at=job.started_at).update(
            status=JobStatus.FAILED, error=error, finished_at=now, released_at=now):
        metrics.job_ended(job=job, status=JobStatus.FAILED)
        events.publish(job.id, "done", reply_to=job.reply_to, status=JobStatus.FAILED)
        return True
    return False


def job_cancel(*, job: InferenceJob) -> InferenceJob:
    """Cancel a queued or running job; a finished job is left as it is.

    A running job is marked cancelled at once and its worker's result is
    dropped. Its worker stops as soon as it can: generation between two
    tokens once every job of its batch is cancelled (the cancellation flag,
    see ``control.BatchControl``). Until the worker lets go of it
    (``released_at``) the job keeps its in-flight slot, and the compute time
    it used is recorded and charged like any other.
    """
    now = timezone.now()
    cancelled = InferenceJob.objects.filter(id=job.id, status=JobStatus.QUEUED).update(
        status=JobStatus.CANCELLED, cancel_requested=True, finished_at=now, released_at=now,
        error="Cancelled by the user.",
    )
    cancelled += InferenceJob.objects.filter(id=job.id, status=JobStatus.RUNNING).update(
        status=JobStatus.CANCELLED, cancel_requested=True, finished_at=now, error="Cancelled by the user.",
    )
    job.refresh_from_db()
    if cancelled:
        metrics.job_ended(job=job, status=JobStatus.CANCELLED)
    if job.status == JobStatus.CANCELLED:
        events.cancel_flag_set(job.id)
        events.publish(job.id, "done", reply_to=job.reply_to, status=JobStatus.CANCELLED)
    return job


def jobs_hand_back(*, jobs: dict[str, datetime]) -> int:
    """A stopping worker gives its running jobs (id -> claim ``started_at``) back to the queue.

    The attempt is not counted (the job did nothing wrong); each goes back only while still running
    under that claim, and its message is sent again. Returns how many went back. Jobs cancelled
    while running are released.
    """
    handed = 0
    now = timezone.now()
    for job_id, started_at in jobs.items():
        with transaction.atomic():
            if InferenceJob.objects.filter(id=job_id, status=JobStatus.RUNNING, started_at=started_at).update(
                    status=JobStatus.QUEUED, started_at=None, heartbeat_at=None, attempts=F("attempts") - 1):
                job_enqueue(job=InferenceJob.objects.get(id=job_id))
                handed += 1
            else:
                row = InferenceJob.objects.filter(id=job_id).values("status", "started_at").first()
                logger.info("hand-back of job %s under the claim of %s left alone: %s", job_id, started_at, row)
        InferenceJob.objects.filter(id=job_id, status=JobStatus.CANCELLED, started_at=started_at,
                                    released_at__isnull=True).update(released_at=now)
    return handed


def jobs_resend(*, job_ids: list[str]) -> None:
    """Send the message of each still-queued job again (a stopping worker's batcher gives back the jobs it
    gathered but did not claim: their own messages are acknowledged when their Celery tasks return)."""
    for job in InferenceJob.objects.filter(id__in=job_ids, status=JobStatus.QUEUED).select_related("owner"):
        with transaction.atomic():
            job_enqueue(job=job)


def jobs_sweep() -> dict[str, int]:
    """Rescue jobs nobody is running any more; run periodically by Celery beat.

    - running with a heartbeat older than ``JOB_HEARTBEAT_STALE_S`` (its worker
      died; a job that simply runs long keeps beating and is left alone):
      re-queued, or failed with a reason after the last attempt;
    - cancelled while running, and its worker died before letting go: released;
    - queued for too long (no worker took it): the message is sent again, and
      after ``JOB_QUEUED_TIMEOUT_S`` the job fails with a reason.
    """
    now = timezone.now()
    counts = {"requeued": 0, "failed": 0, "resent": 0, "expired": 0}
    stale_before = heartbeat_stale_before(now)
    stale = InferenceJob.objects.filter(
        Q(heartbeat_at__lt=stale_before) | Q(heartbeat_at__isnull=True, started_at__lt=stale_before),
        status=JobStatus.RUNNING)
    for job in stale.select_related("owner"):
        outcome = job_requeue_or_fail(job=job, reason="the worker running it stopped before it finished")
        if outcome in counts:
            counts[outcome] += 1
    InferenceJob.objects.filter(
        Q(heartbeat_at__lt=stale_before) | Q(heartbeat_at__isnull=True),
        status=JobStatus.CANCELLED, released_at__isnull=True).update(released_at=now)
    expire_before = now - timedelta(seconds=settings.JOB_QUEUED_TIMEOUT_S)
    expired = InferenceJob.objects.filter(status=JobStatus.QUEUED, created_at__lt=expire_before)
    for job in list(expired.only("id", "task_kind", "model_id", "model_key", "reply_to")):
        job_id = job.id
        if InferenceJob.objects.filter(id=job_id, status=JobStatus.QUEUED).update(
            status=JobStatus.FAILED, finished_at=now, released_at=now,
            error=f"No worker took the job within {settings.JOB_QUEUED_TIMEOUT_S} s; "
                  "is a worker running for its model?",
        ):
            counts["expired"] += 1
            metrics.job_ended(job=job, status=JobStatus.FAILED)
            events.publish(job_id, "done", reply_to=job.reply_to, status=JobStatus.FAILED)
    # A queued job whose message went unanswered for a long while (lost with a
    # Redis that kept nothing on disk, say) gets its message again. Harmless if
    # the first one is still queued: only one delivery can claim the job.
    resend_before = now - timedelta(seconds=settings.JOB_RESEND_AFTER_S)
    lost = InferenceJob.objects.filter(
        Q(enqueued_at__lt=resend_before) | Q(enqueued_at__isnull=True),
        status=JobStatus.QUEUED, created_at__lt=resend_before,
    ).select_related("owner")
    for job in lost:
        with transaction.atomic():
            job_enqueue(job=job)
        counts["resent"] += 1
    metrics.sweep_counted(counts=counts)
    return counts
