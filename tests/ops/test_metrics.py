"""``GET /metrics``: what a Prometheus scrape shows after real requests, real jobs on a real worker, the sweeper.

The session's worker writes its samples to ``celery_worker.metrics_dir`` (multiprocess mode); a scrape
pointed there (``PROMETHEUS_MULTIPROC_DIR``) reads them. This test process itself runs in single-process
mode (the variable is unset here), so the requests and sweeps it serves are read from its own registry.
"""

from __future__ import annotations

import shutil
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from inference.jobs import job_submit, jobs_sweep
from inference.models import BuildStatus, InferenceJob, JobStatus

from ..conftest import wait_for_job
from ..workers import Worker, flush_queues

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = {"HTTP_PREFER": "wait=60"}


class Scrape:
    """One scrape, parsed with prometheus-client's own text parser."""

    def __init__(self, client: Client, **extra) -> None:
        response = client.get("/metrics", **extra)
        assert response.status_code == 200, response.content
        assert response["Content-Type"].startswith("text/plain")
        self.text = response.content.decode()
        self.samples = [sample for family in text_string_to_metric_families(self.text) for sample in family.samples]

    def matching(self, name: str, **labels: str) -> list:
        return [s for s in self.samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]

    def value(self, name: str, **labels: str) -> float:
        """The sum over every series of ``name`` with these labels (0 when none)."""
        return sum(s.value for s in self.matching(name, **labels))


def submit(user, kind: str, model: str | None, **data) -> InferenceJob:
    return job_submit(user=user, api_key=None, kind_name=kind, model_id=model, data=data,
                               allow_internal=True)


@pytest.fixture
def worker_scrape(celery_worker, settings):
    """Scrapes that read the session worker's samples."""
    settings.PROMETHEUS_MULTIPROC_DIR = str(celery_worker.metrics_dir)
    return lambda: Scrape(Client())


def test_jobs_run_by_the_worker_show_in_the_job_counters_and_histograms(worker_scrape, api_client, user):
    before = worker_scrape()
    response = api_client.post("/api/emotion", {"text": "I love it", "model": "tiny-emotion"}, format="json", **WAIT)
    assert response.status_code == 200, response.content
    failed = wait_for_job(submit(user, "echo", None, text="x", fail="refused").id)
    assert failed.status == JobStatus.FAILED
    after = worker_scrape()

    emotion = {"kind": "emotion", "model": "tiny-emotion"}
    for name, labels in [("forwardpass_jobs_total", {**emotion, "status": "succeeded"}),
                         ("forwardpass_jobs_total", {"kind": "echo", "model": "echo", "status": "failed"}),
                         ("forwardpass_job_queue_seconds_count", emotion),
                         ("forwardpass_job_compute_seconds_count", emotion),
                         ("forwardpass_batch_size_count", emotion),
                         ("forwardpass_batch_size_sum", emotion)]:  # the session worker (prefork) runs jobs alone
        assert after.value(name, **labels) - before.value(name, **labels) == 1, (name, labels)
    assert after.value("forwardpass_jobs_total", **emotion, status="failed") == before.value(
        "forwardpass_jobs_total", **emotion, status="failed")
    assert after.value("forwardpass_job_queue_seconds_sum", **emotion) > before.value(
        "forwardpass_job_queue_seconds_sum", **emotion)
    # The loaded models of the worker's process: its pid labels them.
    loaded = after.matching("forwardpass_worker_models_loaded")
    assert loaded and all(s.labels.get("pid") for s in loaded) and max(s.value for s in loaded) >= 1
    assert after.value("forwardpass_worker_model_memory_bytes", model="tiny-emotion") > 0
    assert after.value("forwardpass_model_load_seconds_count", model="tiny-emotion") >= 1


def test_a_users_own_model_is_labelled_uploaded_never_by_its_name(worker_scrape, api_client, user, tiny_models):
    from django.conf import settings

    from ..uploads.conftest import upload, wait_for_build, zip_folder

    shutil.rmtree(Path(settings.MEDIA_ROOT) / "models", ignore_errors=True)
    name = "alices-private-emotions"
    archive = zip_folder(Path(tiny_models["tiny-emotion"]["path"]))
    assert upload(api_client, name=name, task="emotion", file_name="m.zip", content=archive).status_code == 202
    assert wait_for_build(user, name).build_status == BuildStatus.READY
    before = worker_scrape()
    response = api_client.post("/api/emotion", {"text": "I love it", "model": name}, format="json", **WAIT)
    assert response.status_code == 200, response.content
    after = worker_scrape()

    labels = {"kind": "emotion", "model": "uploaded", "status": "succeeded"}
    assert after.value("forwardpass_jobs_total", **labels) - before.value("forwardpass_jobs_total", **labels) == 1
    assert after.value("forwardpass_worker_model_memory_bytes", model="uploaded") > 0
    assert name not in after.text and "upload:" not in after.text  # no tenant's model name or version id


def test_requests_are_counted_by_url_pattern_and_status(client, api_client):
    before = Scrape(client)
    assert client.get("/api/health").status_code == 200
    assert client.get("/api/no-such-endpoint-3f9c").status_code == 404
    missing = uuid.uuid4()
    assert api_client.get(f"/api/jobs/{missing}").status_code == 404
    after = Scrape(client)

    counted = {("api:health", "200"): 1, ("api:api.views.api_not_found", "404"): 1, ("api:job-detail", "404"): 1}
    for (endpoint, status), expected in counted.items():
        name = "forwardpass_http_requests_total"
        assert after.value(name, endpoint=endpoint, status=status) - before.value(
            name, endpoint=endpoint, status=status) == expected, (endpoint, status)
        name = "forwardpass_http_request_duration_seconds_count"
        assert after.value(name, endpoint=endpoint) - before.value(name, endpoint=endpoint) == expected
    # The scrape before this one is counted too; raw paths and ids never become labels.
    assert after.value("forwardpass_http_requests_total", endpoint="metrics", status="200") >= 1
    assert "no-such-endpoint-3f9c" not in after.text and str(missing) not in after.text


def test_with_a_token_a_scrape_needs_it(client, settings):
    settings.METRICS_TOKEN = "scrape-token-5b1e"
    refused = client.get("/metrics")
    assert refused.status_code == 401 and refused["WWW-Authenticate"].startswith("Bearer")
    assert "forwardpass_" not in refused.content.decode()
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong-token").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Basic scrape-token-5b1e").status_code == 401
    # With the token a scraper on another host is served.
    scrape = Scrape(client, HTTP_AUTHORIZATION="Bearer scrape-token-5b1e", REMOTE_ADDR="203.0.113.7")
    assert scrape.matching("forwardpass_broker_up")


def test_without_a_token_only_loopback_is_served(client):
    for address in ("203.0.113.7", "10.0.0.3", "::ffff:192.0.2.1"):
        refused = client.get("/metrics", REMOTE_ADDR=address)
        assert refused.status_code == 403, address
        assert "forwardpass_" not in refused.content.decode()
    # Through a reverse proxy on this machine every visitor looks local: refused too.
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.7").status_code == 403
    for address in ("127.0.0.1", "127.0.0.9", "::1", "::ffff:127.0.0.1"):
        Scrape(client, REMOTE_ADDR=address)
    assert client.post("/metrics").status_code == 405


def test_queue_depth_shows_jobs_no_worker_took(celery_worker, user, client):
    celery_worker.stop()
    flush_queues()
    try:
        for i in range(2):
            submit(user, "emotion", "tiny-emotion", text=f"waiting {i}")
        scrape = Scrape(client)
        assert scrape.value("forwardpass_queue_depth", queue="fp.model.tiny-emotion") == 2
        assert scrape.value("forwardpass_queue_depth", queue="fp.model.control") == 0
        assert scrape.value("forwardpass_broker_up") == 1
        queues = {s.labels["queue"] for s in scrape.matching("forwardpass_queue_depth")}
        assert {"fp.model.uploads", "fp.control", "fp.default", "fp.model.emotion-minilm-goemotions"} <= queues
    finally:
        celery_worker.start()


def test_a_broker_that_does_not_answer_leaves_the_scrape_working(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    started = time.monotonic()
    scrape = Scrape(client)
    assert time.monotonic() - started < 5
    assert scrape.value("forwardpass_broker_up") == 0
    assert not scrape.matching("forwardpass_queue_depth")


def _job(user, **fields) -> InferenceJob:
    job = InferenceJob.objects.create(owner=user, task_kind="echo", model_id="echo", model_key="echo",
                                      input={"text": "swept"}, **fields)
    return job


def test_the_sweepers_actions_are_counted(user, client, settings):
    now = timezone.now()
    hour_ago = now - timedelta(hours=1)
    _job(user, status=JobStatus.RUNNING, started_at=hour_ago, heartbeat_at=hour_ago, attempts=1)  # requeued
    _job(user, status=JobStatus.RUNNING, started_at=hour_ago, heartbeat_at=hour_ago,
         attempts=settings.JOB_MAX_ATTEMPTS)  # failed after its last attempt
    lost = _job(user, status=JobStatus.QUEUED, enqueued_at=hour_ago)  # resent
    unclaimed = _job(user, status=JobStatus.QUEUED, enqueued_at=hour_ago)  # expired
    InferenceJob.objects.filter(id=lost.id).update(created_at=now - timedelta(minutes=20))
    InferenceJob.objects.filter(id=unclaimed.id).update(created_at=now - timedelta(hours=2))
    before = Scrape(client)
    counts = jobs_sweep()
    after = Scrape(client)

    assert counts == {"requeued": 1, "failed": 1, "resent": 1, "expired": 1}
    for action in counts:
        name = "forwardpass_sweeper_actions_total"
        assert after.value(name, action=action) - before.value(name, action=action) == 1, action
    failed = {"kind": "echo", "model": "echo", "status": "failed"}  # the last attempt's and the expired job
    assert after.value("forwardpass_jobs_total", **failed) - before.value("forwardpass_jobs_total", **failed) == 2


def test_a_cancelled_job_is_counted_once(api_client, user, client):
    job = _job(user, status=JobStatus.QUEUED)  # never sent: no worker takes it
    cancelled = {"kind": "echo", "model": "echo", "status": "cancelled"}
    before = Scrape(client)
    for _ in range(2):  # cancelling twice ends the job once
        response = api_client.post(f"/api/jobs/{job.id}/cancel")
        assert response.status_code == 200 and response.json()["status"] == "cancelled"
    after = Scrape(client)
    assert after.value("forwardpass_jobs_total", **cancelled) - before.value("forwardpass_jobs_total", **cancelled) == 1


def test_a_worker_in_multiprocess_mode_is_seen_by_a_scrape_of_its_directory(celery_worker, user, client, settings,
                                                                              tmp_path):
    """A threads-pool worker writes to a fresh directory; this process scrapes it, then the worker stops."""
    celery_worker.stop()
    flush_queues()
    worker = Worker(name="metrics-mp", pool="threads", concurrency=8,
                    extra_env={"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "BATCH_WAIT_MS": "300"}).start()
    try:
        with transaction.atomic():  # the messages go out together, at commit, so they share batches
            jobs = [submit(user, "echo", None, text=f"batched {i}", sleep_ms=50) for i in range(6)]
        done = [wait_for_job(job.id) for job in jobs]
        assert all(job.status == JobStatus.SUCCEEDED for job in done), [job.error for job in done]
        batches = len({job.started_at for job in done})
        assert batches < len(done)  # some shared a batch

        settings.PROMETHEUS_MULTIPROC_DIR = str(tmp_path)
        scrape = Scrape(client)
        echo = {"kind": "echo", "model": "echo"}
        assert scrape.value("forwardpass_jobs_total", **echo, status="succeeded") == 6
        assert scrape.value("forwardpass_job_compute_seconds_count", **echo) == 6
        assert scrape.value("forwardpass_batch_size_sum", **echo) == 6
        assert scrape.value("forwardpass_batch_size_count", **echo) == batches
        assert scrape.value("forwardpass_batch_size_bucket", **echo, le="1.0") < batches  # a batch of 2 or more
        loaded = scrape.matching("forwardpass_worker_models_loaded")
        assert [(s.labels["pid"], s.value) for s in loaded] == [(str(worker.process.pid), 1)]
        # Nothing of this process (its requests) is in that directory.
        assert not scrape.matching("forwardpass_http_requests_total")
    finally:
        worker.stop()
        celery_worker.start()
    # A stopped worker's per-process gauges leave the scrape; its counters stay.
    scrape = Scrape(client)
    assert not scrape.matching("forwardpass_worker_models_loaded")
    assert scrape.value("forwardpass_jobs_total", kind="echo", model="echo", status="succeeded") == 6


def test_several_gunicorn_workers_report_one_sum(tmp_path):
    """gunicorn with two worker processes (``scripts/run.sh``'s command): every scrape, whichever process answers
    it, reports the requests of both; a process that died leaves its counts but not its gauges."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    from concurrent.futures import ThreadPoolExecutor

    import requests

    from ..workers import ROOT, test_database_url

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DATABASE_URL": test_database_url(), "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    log = open(tmp_path.parent / "gunicorn.log", "ab")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.asgi:application", "-k", "uvicorn.workers.UvicornWorker",
         "--bind", f"127.0.0.1:{port}", "--workers", "2", "--no-control-socket"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None and time.monotonic() < deadline, "gunicorn did not start"
            try:
                requests.get(f"{url}/api/tasks", timeout=5)
                break
            except requests.RequestException:  # refused, or accepted by the master before a worker runs
                time.sleep(0.2)

        def health(_: int) -> int:
            return requests.get(f"{url}/api/health", headers={"Connection": "close"}, timeout=30).status_code

        def served_by_each() -> list[float]:
            """The api:health requests each worker process wrote to its own file."""
            from prometheus_client.multiprocess import MultiProcessCollector

            return [sum(s.value for metric in MultiProcessCollector.merge([str(path)]) for s in metric.samples
                        if s.name == "forwardpass_http_requests_total" and s.labels.get("endpoint") == "api:health")
                    for path in tmp_path.glob("counter_*.db")]

        sent = 0
        with ThreadPoolExecutor(max_workers=6) as pool:
            while len([n for n in served_by_each() if n]) < 2:  # until both processes have served some
                assert sent < 300, served_by_each()
                assert set(pool.map(health, range(10))) == {200}
                sent += 10
        for _ in range(4):
            response = requests.get(f"{url}/metrics", headers={"Connection": "close"}, timeout=30)
            assert response.status_code == 200
            samples = [s for family in text_string_to_metric_families(response.text) for s in family.samples]
            assert sum(s.value for s in samples if s.name == "forwardpass_http_requests_total"
                       and s.labels == {"endpoint": "api:health", "status": "200"}) == sent
        # A web process that dies (here: SIGKILL; gunicorn starts another) leaves no per-process gauge
        # behind: gunicorn.conf.py's child_exit marks it dead. Its counters stay in the sums.
        web_pids = {path.stem.split("_")[-1] for path in tmp_path.glob("counter_*.db")}
        assert {path.stem.split("_")[-1] for path in tmp_path.glob("gauge_liveall_*.db")} == web_pids
        victim = sorted(web_pids)[0]
        os.kill(int(victim), signal.SIGKILL)
        deadline = time.monotonic() + 20
        while (tmp_path / f"gauge_liveall_{victim}.db").exists():
            assert time.monotonic() < deadline, "the dead process's gauges stayed"
            time.sleep(0.1)
        response = requests.get(f"{url}/metrics", headers={"Connection": "close"}, timeout=30)
        samples = [s for family in text_string_to_metric_families(response.text) for s in family.samples]
        assert victim not in {s.labels.get("pid") for s in samples}
        assert sum(s.value for s in samples if s.name == "forwardpass_http_requests_total"
                   and s.labels == {"endpoint": "api:health", "status": "200"}) == sent
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()
