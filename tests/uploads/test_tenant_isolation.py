"""Two users' models of one name, and two versions of one model, never share a run.

A job records the exact model it was accepted for (``model_key``: the version's id); batches, queues,
the worker's model cache and its resolution all go by it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from inference.jobs import job_submit
from inference.models import BuildStatus, InferenceJob, JobStatus, ModelVersion
from inference.uploads import build as upload_build

from .. import tinymodels
from ..conftest import GOEMOTIONS_LABELS, wait_for_job
from ..workers import Worker, flush_queues
from .conftest import upload, wait_for_build, zip_folder

pytestmark = pytest.mark.django_db(transaction=True)

BOBS_LABELS = ["bob-calm", "bob-cross", "bob-glad"]
NEWER_LABELS = ["v2-first", "v2-second"]


def _labels_model(root: Path, name: str, labels: list[str], seed: int) -> bytes:
    folder = root / name
    if not (folder / "config.json").exists():
        tinymodels.build_tiny_bert_classifier(folder, labels=labels, multi_label=True, seed=seed)
    return zip_folder(folder)


@pytest.fixture
def bobs_model(tmp_path_factory) -> bytes:
    return _labels_model(tmp_path_factory.getbasetemp(), "bobs-emotions", BOBS_LABELS, seed=1)


@pytest.fixture
def threads_worker(celery_worker):
    """A threads-pool worker with a wide gathering window, so concurrent jobs share batches."""
    celery_worker.stop()
    flush_queues()
    worker = Worker(name="tenants", pool="threads", concurrency=32,
                    extra_env={"BATCH_WAIT_MS": "400", "BATCH_MAX_SIZE": "32"}).start()
    yield worker
    worker.stop()
    celery_worker.start()


def _submit(user, text: str) -> InferenceJob:
    return job_submit(user=user, api_key=None, kind_name="emotion", model_id="my-emotions",
                               data={"text": text, "scores": True})


def test_two_users_models_of_one_name_never_share_a_batch(threads_worker, tiny_models, user, other_user,
                                                          api_client, other_client, bobs_model):
    alice_zip = zip_folder(Path(tiny_models["tiny-emotion"]["path"]))
    assert upload(api_client, name="my-emotions", task="emotion", file_name="m.zip",
                  content=alice_zip).status_code == 202
    assert wait_for_build(user, "my-emotions").build_status == BuildStatus.READY
    assert upload(other_client, name="my-emotions", task="emotion", file_name="m.zip",
                  content=bobs_model).status_code == 202
    assert wait_for_build(other_user, "my-emotions").build_status == BuildStatus.READY

    # Interleaved, within the gathering window: each batch holds both users' jobs on main.
    jobs = []
    for i in range(12):
        jobs.append((user, _submit(user, f"alice's text {i}")))
        jobs.append((other_user, _submit(other_user, f"bob's text {i}")))
    done = [(owner, wait_for_job(job.id)) for owner, job in jobs]
    assert all(job.status == JobStatus.SUCCEEDED for _, job in done), [job.error for _, job in done]
    assert max(job.batch_size for _, job in done) > 1  # they did batch, each user's with their own
    for owner, job in done:
        expected = set(GOEMOTIONS_LABELS) if owner == user else set(BOBS_LABELS)
        assert set(job.output["scores"]) == expected, (owner.username, job.output)
    # Each user's answer through the API is from their own model too.
    assert set(other_client.post("/api/emotion", {"text": "hi", "model": "my-emotions", "scores": True},
                                 format="json").json()["scores"]) == set(BOBS_LABELS)


def test_a_queued_job_runs_on_the_version_it_was_accepted_for(celery_worker, tiny_models, user, api_client,
                                                              tmp_path_factory):
    first = zip_folder(Path(tiny_models["tiny-emotion"]["path"]))
    assert upload(api_client, name="my-emotions", task="emotion", file_name="m.zip", content=first).status_code == 202
    v1 = wait_for_build(user, "my-emotions")
    assert v1.build_status == BuildStatus.READY

    celery_worker.stop()  # the job waits in the queue while version 2 becomes ready
    try:
        waiting = _submit(user, "accepted while version 1 served")
        newer = _labels_model(tmp_path_factory.getbasetemp(), "newer-emotions", NEWER_LABELS, seed=2)
        assert upload(api_client, name="my-emotions", task="emotion", file_name="m.zip",
                      content=newer).status_code == 202
        v2 = ModelVersion.objects.get(model__owner=user, model__name="my-emotions", number=2)
        upload_build.model_upload_build(version_id=v2.id)  # built here, before any worker runs the job
        assert ModelVersion.objects.get(id=v2.id).build_status == BuildStatus.READY
        assert ModelVersion.objects.filter(id=v1.id).exists()  # kept for the job accepted for it
    finally:
        celery_worker.start()

    waited = wait_for_job(waiting.id)
    assert waited.status == JobStatus.SUCCEEDED, waited.error
    assert set(waited.output["scores"]) == set(GOEMOTIONS_LABELS)  # version 1's labels
    later = wait_for_job(_submit(user, "accepted once version 2 served").id)
    assert set(later.output["scores"]) == set(NEWER_LABELS)

    # Once no job needs version 1 any more, the sweeper removes it and its files.
    assert upload_build.model_builds_sweep()["superseded_removed"] == 1
    assert list(ModelVersion.objects.filter(model__owner=user).values_list("number", flat=True)) == [2]
    from inference.uploads.paths import version_folder

    assert not version_folder(owner_id=user.pk, name="my-emotions", number=1).exists()
