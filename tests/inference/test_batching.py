"""Batching through a real worker (threads pool): concurrent jobs share a forward pass, each keeps its outcome."""

from __future__ import annotations

import time

import pytest
from django.db import transaction

from inference.jobs import job_enqueue, job_submit, jobs_sweep
from inference.models import InferenceJob, JobStatus
from inference.tasks import run_job

from ..conftest import wait_for_job
from ..workers import Worker, flush_queues

pytestmark = pytest.mark.django_db(transaction=True)

TEXTS = [f"text number {i}: {'wonderful ' * (i % 4)}{'awful ' * (i % 3)}" for i in range(16)]


@pytest.fixture
def threads_worker(celery_worker, tiny_models):
    """A worker with the threads pool and a wide gathering window, alone on the queues."""
    celery_worker.stop()
    flush_queues()
    worker = Worker(name="batching", pool="threads", concurrency=32,
                    extra_env={"BATCH_WAIT_MS": "300", "BATCH_MAX_SIZE": "32",
                               "WORKER_PRELOAD_MODELS": "tiny-emotion,tiny-gpt2"}).start()
    yield worker
    worker.stop()
    celery_worker.start()


def submit(user, kind: str, model: str | None, **data) -> InferenceJob:
    return job_submit(user=user, api_key=None, kind_name=kind, model_id=model, data=data,
                               allow_internal=True)


def emotion_alone(text: str) -> dict:
    """The output of one text run on its own, in this process (the reference for batched outputs)."""
    from inference.jobs.selectors import model_resolve
    from inference.kinds.emotion import Emotion
    from inference.runtime.loading import backend_get

    spec = model_resolve(model_id="tiny-emotion", user=None, include_unready=True)
    return Emotion().run(backend_get(spec), [{"text": text, "scores": True}])[0].output


def test_concurrent_jobs_share_batches_and_keep_their_own_results(threads_worker, user):
    jobs = [submit(user, "emotion", "tiny-emotion", text=text, scores=True) for text in TEXTS]
    done = [wait_for_job(job.id) for job in jobs]
    assert all(job.status == JobStatus.SUCCEEDED for job in done), [job.error for job in done]
    sizes = [job.batch_size for job in done]
    assert max(sizes) > 1, sizes
    assert len({(job.started_at, job.batch_size) for job in done}) < len(done)  # fewer batches than jobs
    for text, job in zip(TEXTS, done, strict=True):
        expected = emotion_alone(text)
        assert job.output["emotion"] == expected["emotion"]
        assert job.output["scores"] == pytest.approx(expected["scores"], abs=2e-4)
        assert job.attempts == 1 and job.compute_ms is not None and job.queue_ms is not None


def test_a_bad_item_fails_only_its_own_job(threads_worker, user):
    good = [submit(user, "emotion", "tiny-emotion", text=text) for text in TEXTS[:6]]
    # An input that slipped past validation (written straight to the row): the
    # tokenizer raises on it, so the batched forward pass raises as a whole.
    bad = InferenceJob.objects.create(owner=user, task_kind="emotion", model_id="tiny-emotion",
                                      input={"text": 12345, "scores": False})
    job_enqueue(job=bad)
    good += [submit(user, "emotion", "tiny-emotion", text=text) for text in TEXTS[6:12]]
    bad = wait_for_job(bad.id)
    assert bad.status == JobStatus.FAILED
    assert bad.error.startswith("The model could not run this input")
    for job in good:
        job = wait_for_job(job.id)
        assert job.status == JobStatus.SUCCEEDED, job.error
        assert isinstance(job.output["emotion"], str)


def test_an_item_error_in_a_batch_stays_with_its_job(threads_worker, user):
    jobs = [submit(user, "echo", None, text=f"t{i}", fail="refused" if i == 3 else "") for i in range(8)]
    done = [wait_for_job(job.id) for job in jobs]
    assert max(job.batch_size for job in done) > 1
    for i, job in enumerate(done):
        if i == 3:
            assert job.status == JobStatus.FAILED and job.error == "refused"
        else:
            assert job.status == JobStatus.SUCCEEDED and job.output == {"output": f"t{i}"}


def test_a_duplicate_delivery_still_runs_the_job_once(threads_worker, user):
    job = submit(user, "echo", None, text="once", sleep_ms=200)
    for _ in range(3):  # redeliveries of the same message, arriving together
        run_job.apply_async(args=(str(job.id),), queue="fp.model.control")
    job = wait_for_job(job.id)
    marker = wait_for_job(submit(user, "echo", None, text="after", sleep_ms=400).id)
    assert marker.status == JobStatus.SUCCEEDED
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.output == {"output": "once"}
    assert job.attempts == 1 and job.batch_size == 1


def test_text_generation_with_different_parameters_is_not_batched_together(threads_worker, user):
    short = [submit(user, "text-generation", "tiny-gpt2", text=f"Once {i}", min_length=1, max_length=3,
                    do_sample=False) for i in range(4)]
    long = [submit(user, "text-generation", "tiny-gpt2", text=f"Then {i}", min_length=1, max_length=6,
                   do_sample=False) for i in range(4)]
    short = [wait_for_job(job.id) for job in short]
    long = [wait_for_job(job.id) for job in long]
    assert all(job.status == JobStatus.SUCCEEDED for job in short + long), [j.error for j in short + long]
    assert all(job.batch_size <= 4 for job in short + long)
    assert max(job.batch_size for job in short + long) > 1  # same parameters did share
    # Jobs that shared a batch were claimed together; no batch mixes the two settings.
    short_claims = {job.started_at for job in short}
    assert not short_claims & {job.started_at for job in long}


def test_a_killed_threads_worker_leaves_its_batch_to_the_sweeper(celery_worker, user, settings):
    """SIGKILL mid-batch: the claimed jobs stay running until the sweeper re-queues them; none is lost."""
    celery_worker.stop()  # only the doomed worker may take the jobs
    flush_queues()
    doomed = Worker(name="doomed-threads", pool="threads", concurrency=8, extra_env={"BATCH_WAIT_MS": "300"}).start()
    try:
        with transaction.atomic():  # the three messages go out together, at commit
            jobs = [submit(user, "echo", None, text=f"survivor {i}", sleep_ms=1500) for i in range(3)]
        deadline = time.monotonic() + 30
        while not InferenceJob.objects.filter(id__in=[j.id for j in jobs], status=JobStatus.RUNNING).exists():
            assert time.monotonic() < deadline, "the jobs never started"
            time.sleep(0.05)
        time.sleep(0.3)  # mid-batch
        doomed.kill()
    finally:
        doomed.kill()
    ids = [j.id for j in jobs]
    running = set(InferenceJob.objects.filter(id__in=ids, status=JobStatus.RUNNING).values_list("id", flat=True))
    assert running and InferenceJob.objects.filter(id__in=ids, status=JobStatus.QUEUED).count() == 3 - len(running)
    settings.JOB_HEARTBEAT_STALE_S = 0  # the dead worker's heartbeat is stale now, not in 30 s
    settings.JOB_RESEND_AFTER_S = 0  # and resends the messages the dead worker held for jobs it had not claimed
    time.sleep(0.2)
    counts = jobs_sweep()
    assert counts["requeued"] == len(running) and counts["resent"] == 3 - len(running)
    celery_worker.start()
    for i, job in enumerate(jobs):
        job = wait_for_job(job.id, timeout=90)
        assert job.status == JobStatus.SUCCEEDED and job.output == {"output": f"survivor {i}"}
        assert job.attempts == (2 if job.id in running else 1)
