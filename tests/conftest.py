"""Shared fixtures: users, keys, a real Celery worker on a real Redis."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth import get_user_model

from dashboard.services import api_key_create
from inference.models import InferenceJob

from .workers import Worker, flush_queues


@pytest.fixture
def user(db):
    return get_user_model().objects.create_user(username="alice", email="alice@example.com", password="s3cret-pass-word")


@pytest.fixture
def other_user(db):
    return get_user_model().objects.create_user(username="bob", email="bob@example.com", password="s3cret-pass-word")


@pytest.fixture
def issued_key(user):
    return api_key_create(user=user, name="test key")


@pytest.fixture
def api_client(issued_key):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_X_API_KEY=issued_key.plaintext)
    return client


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker):
    """One worker for every model, shared by the session (models stay loaded)."""
    flush_queues()
    worker = Worker(name="session").start()
    yield worker
    worker.stop()


def wait_for_job(job_id, *, timeout: float = 60.0) -> InferenceJob:
    """Poll the row until the job ends (tests only; the API waits on Redis events)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = InferenceJob.objects.get(id=job_id)
        if job.is_terminal:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s (status {job.status})")
