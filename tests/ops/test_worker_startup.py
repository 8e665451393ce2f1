"""A fresh worker runs several uploads' builds and several models' first jobs at the same moment.

Everything is queued before the worker starts, so its pool threads all begin
at once, each needing transformers (the builds' AutoConfig, the backends) for
the first time in the process: they must not import it concurrently.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from dashboard.services import api_key_create
from inference.jobs import job_submit
from inference.models import BuildStatus, JobStatus
from inference.uploads.build import example_input
from tests.conftest import wait_for_job
from tests.uploads.conftest import tar_folder, upload, wait_for_build, zip_folder
from tests.workers import Worker, flush_queues

pytestmark = pytest.mark.django_db(transaction=True)

UPLOADS = [  # (owner, name, task kind, tiny model, archive)
    ("alice", "alice-emotion", "emotion", "tiny-emotion", "zip"),
    ("bob", "bob-vectors", "text-vectorisation", "tiny-encoder", "zip"),
    ("alice", "alice-qa", "qa", "tiny-qa", "tar.gz"),
    ("bob", "bob-writer", "text-generation", "tiny-gpt2", "tar.gz"),
]
FIRST_JOBS = [  # (task kind, model): each kind's example input
    ("emotion", "tiny-emotion"),
    ("text-generation", "tiny-t5"),
    ("text-vectorisation", "tiny-encoder"),
    ("text-classification", "tiny-nli"),
    ("qa", "tiny-qa"),
    ("image-classification", "tiny-clip"),
]


def test_a_fresh_worker_builds_uploads_and_runs_first_jobs_at_the_same_moment(user, other_user, tiny_models):
    shutil.rmtree(Path(settings.MEDIA_ROOT) / "models", ignore_errors=True)
    flush_queues()
    owners = {"alice": user, "bob": other_user}
    for owner_name, name, kind, tiny, fmt in UPLOADS:
        client = APIClient()
        client.credentials(HTTP_X_API_KEY=api_key_create(user=owners[owner_name], name=name).plaintext)
        folder = Path(tiny_models[tiny]["path"])
        content = zip_folder(folder) if fmt == "zip" else tar_folder(folder)
        response = upload(client, name=name, task=kind, file_name=f"model.{fmt}", content=content)
        assert response.status_code == 202, response.json()
    jobs = [job_submit(user=user, api_key=None, kind_name=kind, model_id=model_id, data=example_input(kind))
            for kind, model_id in FIRST_JOBS]

    worker = Worker(name="fresh", pool="threads", concurrency=len(UPLOADS) + len(FIRST_JOBS))
    log_start = worker.log_path.stat().st_size if worker.log_path.exists() else 0  # the log is appended to
    worker.start()
    try:
        builds = {name: wait_for_build(owners[owner_name], name, timeout=240)
                  for owner_name, name, *_ in UPLOADS}
        ended = [wait_for_job(job.id, timeout=240) for job in jobs]
    finally:
        worker.stop()
    failed_builds = {name: version.build_message for name, version in builds.items()
                     if version.build_status != BuildStatus.READY}
    assert not failed_builds
    failed_jobs = {job.model_id: job.error for job in ended if job.status != JobStatus.SUCCEEDED}
    assert not failed_jobs
    assert "cannot import name" not in worker.log_path.read_bytes()[log_start:].decode(errors="replace")
