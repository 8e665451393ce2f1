"""The job pipeline through a real Celery worker on a real Redis (internal echo kind)."""

from __future__ import annotations

import time

import pytest

from api.errors import error_status
from inference.errors import ApiError
from inference.jobs import job_cancel, job_claim, job_submit, jobs_sweep
from inference.models import InferenceJob, JobStatus
from inference.tasks import run_job

from ..conftest import wait_for_job
from ..workers import Worker

pytestmark = pytest.mark.django_db(transaction=True)


def submit(user, **data) -> InferenceJob:
    return job_submit(user=user, api_key=None, kind_name="echo", model_id=None,
                               data={"text": "hello", **data}, allow_internal=True)


def test_submitted_job_succeeds(celery_worker, user):
    job = submit(user, text="ping")
    assert job.status == JobStatus.QUEUED
    job = wait_for_job(job.id)
    assert job.status == JobStatus.SUCCEEDED
    assert job.output == {"output": "ping"}
    assert job.attempts == 1
    assert job.started_at and job.finished_at and job.queue_ms is not None and job.compute_ms is not None


def test_a_failing_job_ends_failed_with_its_reason(celery_worker, user):
    job = wait_for_job(submit(user, fail="the model refused").id)
    assert job.status == JobStatus.FAILED
    assert job.error == "the model refused"


def test_internal_kind_is_not_offered_to_users(user):
    with pytest.raises(ApiError) as exc:
        job_submit(user=user, api_key=None, kind_name="echo", model_id=None, data={"text": "x"})
    assert error_status(exc.value) == 404


def test_a_duplicate_delivery_does_not_run_the_job_twice(celery_worker, user):
    job = submit(user, text="once", sleep_ms=300)
    # Two more deliveries of the same message, as a broker redelivery would do.
    run_job.apply_async(args=(str(job.id),), queue="fp.model.control")
    run_job.apply_async(args=(str(job.id),), queue="fp.model.control")
    job = wait_for_job(job.id)
    marker = wait_for_job(submit(user, text="after").id)  # the same single worker ran the duplicates first
    assert marker.status == JobStatus.SUCCEEDED
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert job.attempts == 1


def test_claim_is_conditional(user):
    job = InferenceJob.objects.create(owner=user, task_kind="echo", model_id="echo", input={"text": "x"})
    assert job_claim(job_id=job.id) is not None
    assert job_claim(job_id=job.id) is None


def test_a_killed_worker_does_not_lose_the_job(celery_worker, user, settings):
    """A worker dies mid-job; the sweeper re-queues it and another worker finishes it."""
    celery_worker.stop()  # only the doomed worker may take the job
    doomed = Worker(name="doomed").start()
    try:
        job = submit(user, text="survivor", sleep_ms=4000)
        deadline = time.monotonic() + 30
        while InferenceJob.objects.get(id=job.id).status != JobStatus.RUNNING:
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.05)
        doomed.kill()
    finally:
        doomed.kill()
    assert InferenceJob.objects.get(id=job.id).status == JobStatus.RUNNING
    settings.JOB_HEARTBEAT_STALE_S = 0  # the dead worker's heartbeat is stale now, not in 30 s
    time.sleep(0.2)
    counts = jobs_sweep()
    assert counts["requeued"] == 1
    celery_worker.start()
    job = wait_for_job(job.id, timeout=90)
    assert job.status == JobStatus.SUCCEEDED
    assert job.output == {"output": "survivor"}
    assert job.attempts == 2


def test_sweeper_fails_a_job_after_its_last_attempt(user, settings):
    settings.JOB_HEARTBEAT_STALE_S = 0
    job = InferenceJob.objects.create(owner=user, task_kind="echo", model_id="echo", input={"text": "x"})
    InferenceJob.objects.filter(id=job.id).update(status=JobStatus.RUNNING, attempts=settings.JOB_MAX_ATTEMPTS)
    from datetime import timedelta

    from django.utils import timezone

    InferenceJob.objects.filter(id=job.id).update(started_at=timezone.now() - timedelta(seconds=60))
    assert jobs_sweep()["failed"] == 1
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "worker running it stopped" in job.error


def test_sweeper_fails_a_job_no_worker_took(user, settings):
    settings.JOB_QUEUED_TIMEOUT_S = 0
    job = InferenceJob.objects.create(owner=user, task_kind="echo", model_id="echo", input={"text": "x"})
    time.sleep(0.01)
    assert jobs_sweep()["expired"] == 1
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and "No worker took the job" in job.error


def test_cancel_a_queued_job(user):
    job = InferenceJob.objects.create(owner=user, task_kind="echo", model_id="echo", input={"text": "x"})
    job = job_cancel(job=job)
    assert job.status == JobStatus.CANCELLED
    assert job_claim(job_id=job.id) is None
