"""A finished job's input and result are deleted after JOB_DATA_RETENTION_DAYS; its row stays for usage."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from inference.jobs import jobs_purge_data
from inference.models import InferenceJob, JobStatus

pytestmark = pytest.mark.django_db


def finished_job(user, *, days_ago: float, status: str = JobStatus.SUCCEEDED) -> InferenceJob:
    job = InferenceJob.objects.create(owner=user, task_kind="emotion", model_id="emotion-minilm-goemotions",
                                      input={"text": "my private words"}, status=status,
                                      output={"emotion": "joy"} if status == JobStatus.SUCCEEDED else None,
                                      compute_ms=120)
    ended = timezone.now() - timedelta(days=days_ago)
    InferenceJob.objects.filter(id=job.id).update(finished_at=ended, started_at=ended)
    return job


def test_old_jobs_lose_their_data_and_keep_their_usage(user, api_client, settings):
    settings.JOB_DATA_RETENTION_DAYS = 30
    old = finished_job(user, days_ago=31)
    old_failed = finished_job(user, days_ago=40, status=JobStatus.FAILED)
    recent = finished_job(user, days_ago=29)
    waiting = InferenceJob.objects.create(owner=user, task_kind="emotion", model_id="emotion-minilm-goemotions",
                                          input={"text": "still queued"})
    InferenceJob.objects.filter(id=waiting.id).update(created_at=timezone.now() - timedelta(days=60))

    assert jobs_purge_data() == 2
    assert jobs_purge_data() == 0  # once

    old.refresh_from_db()
    assert (old.input, old.output, old.status, old.compute_ms) == ({}, None, JobStatus.SUCCEEDED, 120)
    assert old.data_purged_at is not None
    detail = api_client.get(f"/api/jobs/{old.id}").json()
    assert (detail["status"], detail["input"], detail["result"]) == ("succeeded", None, None)
    assert detail["data_purged_at"] and detail["compute_ms"] == 120
    assert InferenceJob.objects.get(id=old_failed.id).data_purged_at is not None

    kept = api_client.get(f"/api/jobs/{recent.id}").json()
    assert (kept["input"], kept["result"], kept["data_purged_at"]) == ({"text": "my private words"},
                                                                       {"emotion": "joy"}, None)
    assert InferenceJob.objects.get(id=waiting.id).input == {"text": "still queued"}


def test_a_retention_of_zero_keeps_everything(user, settings):
    settings.JOB_DATA_RETENTION_DAYS = 0
    job = finished_job(user, days_ago=3650)
    assert jobs_purge_data() == 0
    job.refresh_from_db()
    assert job.input == {"text": "my private words"} and job.data_purged_at is None
