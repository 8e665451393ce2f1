"""Warm start through real workers: a worker loads the models it serves before it takes a job, and
GET /api/health says which models some live worker has warm."""

from __future__ import annotations

import time

import pytest
import redis
from django.conf import settings
from rest_framework.test import APIClient

from inference.jobs import job_submit
from inference.jobs.warm import models_to_warm, warm_processes
from inference.models import InferenceJob, JobStatus

from ..conftest import wait_for_job
from ..workers import Worker, flush_queues

pytestmark = pytest.mark.django_db(transaction=True)

DEFAULT = {"WORKER_PRELOAD_MODELS": None}  # the setting's default (tests/testenv.py sets "none" for the others)


@pytest.fixture
def alone(celery_worker):
    """The session worker steps aside (it would report models too) and the queues are empty."""
    celery_worker.stop()
    flush_queues()
    started: list[Worker] = []

    def start(name: str, *, models: str, pool: str = "threads", **env: str | None) -> Worker:
        worker = Worker(name=name, models=models, pool=pool, concurrency=4 if pool == "threads" else 1,
                        extra_env=env)
        worker.log_path.unlink(missing_ok=True)  # this run's log only
        worker.start(timeout=120)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.kill()
    celery_worker.start()


def health() -> dict:
    response = APIClient().get("/api/health")
    assert response.status_code == 200, response.json()
    return response.json()


def submit(user, model: str, text: str) -> InferenceJob:
    return job_submit(user=user, api_key=None, kind_name="emotion", model_id=model, data={"text": text})


def warm_models(report: dict) -> set[str]:
    return {model for model, state in report["models"].items() if state == "warm"}


def ready_at(worker: Worker) -> float:
    """When the worker's (one) pool process ended its warm-up, as it published it."""
    entries = [entry for entry in warm_processes(redis.Redis.from_url(settings.REDIS_URL))
               if entry["worker"].startswith(f"{worker.name}@")]
    assert len(entries) == 1, entries
    return entries[0]["ready_at"]


def test_the_setting_chooses_the_served_models_none_or_a_list(tiny_models):
    queues = {"fp.model.tiny-emotion", "fp.model.tiny-gpt2", "fp.model.uploads"}
    served = [spec.id for spec in models_to_warm(wanted=["served"], queues=queues)]
    assert served == ["tiny-emotion", "tiny-gpt2"]  # installed catalog models whose queue it consumes; no uploads
    assert [spec.id for spec in models_to_warm(wanted=[], queues=queues)] == served  # empty: the default
    assert models_to_warm(wanted=["none"], queues=queues) == []
    assert [spec.id for spec in models_to_warm(wanted=["tiny-t5", "no-such-model"], queues=queues)] == ["tiny-t5"]


@pytest.mark.parametrize("pool", ["threads", "prefork"])
def test_a_worker_warms_the_models_it_serves_before_it_takes_a_job(alone, user, pool):
    # A job waits in its queue before the worker starts: the worker must not take it while warming up.
    early = submit(user, "tiny-emotion", "queued before the worker started")
    worker = alone(f"warm-{pool}", models="tiny-emotion,tiny-gpt2", pool=pool, **DEFAULT)

    report = health()  # the worker said "ready.": its models are warm before any job of it ran
    assert report["workers"] == 1
    assert warm_models(report) == {"tiny-emotion", "tiny-gpt2"}  # --models tiny-emotion,tiny-gpt2: those only
    assert report["models"]["tiny-t5"] == "cold"

    early = wait_for_job(early.id)
    assert early.status == JobStatus.SUCCEEDED, early.error
    assert early.load_ms == 0  # the model was loaded before the job was claimed
    assert early.started_at.timestamp() >= ready_at(worker)
    first = wait_for_job(submit(user, "tiny-emotion", "the first request after the start").id)
    assert first.status == JobStatus.SUCCEEDED and first.load_ms == 0
    log = worker.log_path.read_text(errors="replace")
    assert "warm-up done" in log  # tiny-gpt2's warm-up generated its two tokens:
    assert "warm-up input" not in log and "cannot preload" not in log

    worker.stop()  # a clean stop withdraws its models at once
    report = health()
    assert report["workers"] == 0 and not warm_models(report)


def test_a_worker_told_none_warms_nothing_and_reports_a_model_once_a_job_loaded_it(alone, user):
    alone("cold", models="tiny-emotion", WORKER_PRELOAD_MODELS="none", JOB_HEARTBEAT_INTERVAL_S="0.5")
    report = health()
    assert report["workers"] == 1 and not warm_models(report)

    job = wait_for_job(submit(user, "tiny-emotion", "loads the model").id)
    assert job.status == JobStatus.SUCCEEDED and job.load_ms > 0  # the first job paid the load
    deadline = time.monotonic() + 10
    while "tiny-emotion" not in warm_models(health()):  # the next heartbeat publishes it
        assert time.monotonic() < deadline, "the model loaded on demand never showed as warm"
        time.sleep(0.1)


def test_a_killed_workers_models_turn_cold_within_the_ttl(alone):
    worker = alone("doomed-warm", models="tiny-emotion", JOB_HEARTBEAT_INTERVAL_S="0.5", **DEFAULT)
    ttl_s = 3 * 0.5
    time.sleep(ttl_s + 1)  # past the first key's TTL: the heartbeats renew it
    report = health()
    assert report["workers"] == 1 and warm_models(report) == {"tiny-emotion"}

    worker.kill()  # SIGKILL: nothing withdraws the key, it expires
    killed = time.monotonic()
    while warm_models(report := health()):
        assert time.monotonic() - killed < ttl_s + 1, "the killed worker's model stayed warm past the TTL"
        time.sleep(0.1)
    assert report["workers"] == 0
