"""A worker outlives its broker's restart (``make chaos``'s redis-kill): it reconnects and runs the next job.

Celery 5.7.0 did not: on the lost connection its consumer closed the connection twice and died with
"Unrecoverable error: AttributeError('NoneType' object has no attribute 'hostname')", so without a
supervisor every worker was gone after a Redis restart. requirements/base.txt keeps Celery below 5.7.
"""

from __future__ import annotations

import time

import pytest

from inference import jobs as services
from inference.models import InferenceJob, JobStatus
from tests.conftest import wait_for_job
from tests.workers import Worker

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_worker_survives_a_redis_restart_and_runs_the_next_job(user, redis_server, use_broker):
    server = redis_server(appendonly=True)
    use_broker(server.url)
    worker = Worker(name="broker-restart", pool="threads", concurrency=4, models="echo",
                    extra_env={"REDIS_URL": server.url, "CELERY_BROKER_URL": server.url}).start()
    try:
        # A job running, its message unacknowledged, when Redis dies: the case that crashed Celery 5.7.0.
        running = services.job_submit(user=user, api_key=None, kind_name="echo", model_id=None,
                                      data={"text": "during", "sleep_ms": 4000}, allow_internal=True)
        deadline = time.monotonic() + 30
        while InferenceJob.objects.get(id=running.id).status != JobStatus.RUNNING:
            assert time.monotonic() < deadline, "the job did not start"
            time.sleep(0.05)
        server.kill()
        time.sleep(2)
        server.start()  # the same port and folder: its append-only file
        time.sleep(5)  # the worker notices, and reconnects (or dies)
        assert worker.process.poll() is None, f"the worker exited; see {worker.log_path}"
        assert wait_for_job(running.id, timeout=60).status == JobStatus.SUCCEEDED
        after = services.job_submit(user=user, api_key=None, kind_name="echo", model_id=None,
                                    data={"text": "after"}, allow_internal=True)
        job = wait_for_job(after.id, timeout=60)
        assert job.status == JobStatus.SUCCEEDED and job.output == {"output": "after"}
    finally:
        worker.stop()
