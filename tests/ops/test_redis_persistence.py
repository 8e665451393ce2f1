"""make run's Redis keeps queued jobs: killed with -9 and restarted, every queued async job still runs.

The Redis is started by scripts/redis.sh --persist, as scripts/run.sh starts it
(append-only file in DATA_DIR/redis, a temporary folder here, on a free port).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import redis

from inference.jobs import job_submit
from inference.models import JobStatus
from tests.conftest import wait_for_job
from tests.workers import Worker

from .redisserver import free_port

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]


def _redis_sh(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "scripts/redis.sh", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)


def test_queued_jobs_survive_a_kill_9_of_the_redis_make_run_starts(tmp_path, use_broker, user, api_client,
                                                                  tiny_models):
    url = f"redis://127.0.0.1:{free_port()}/0"
    env = {**os.environ, "DATA_DIR": str(tmp_path / "data"), "REDIS_URL": url}
    started = _redis_sh(env, "--persist")
    assert started.returncode == 0, started.stderr
    redis_pid = int(started.stdout)
    worker = None
    try:
        use_broker(url)
        # Accepted while no worker runs: they wait in the broker's queues.
        accepted = [api_client.post("/api/emotion", {"text": f"text {i}", "model": "tiny-emotion"}, format="json",
                                    HTTP_PREFER="respond-async") for i in range(3)]
        assert [response.status_code for response in accepted] == [202, 202, 202]
        job_ids = [response.json()["id"] for response in accepted]
        job_ids += [str(job_submit(user=user, api_key=None, kind_name="echo", model_id=None, allow_internal=True,
                                   data={"text": f"echo {i}"}).id) for i in range(3)]
        client = redis.Redis.from_url(url)
        assert sum(client.llen(key) for key in client.scan_iter("fp.*")) == 6

        time.sleep(1.5)  # appendfsync everysec: what is a second old is on disk
        os.kill(redis_pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _answers(url):
            time.sleep(0.1)
        assert not _answers(url)

        restarted = _redis_sh(env, "--persist")
        assert restarted.returncode == 0, restarted.stderr
        redis_pid = int(restarted.stdout)

        worker = Worker(name="after-restart", pool="threads", concurrency=4,
                        extra_env={"REDIS_URL": url, "CELERY_BROKER_URL": url}).start()
        ended = [wait_for_job(job_id, timeout=90) for job_id in job_ids]
        assert [job.status for job in ended] == [JobStatus.SUCCEEDED] * 6, [job.error for job in ended]
    finally:
        if worker is not None:
            worker.stop()
        for kill in (os.killpg, os.kill):  # redis.sh starts it as its own process group
            try:
                kill(redis_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5).ping())
    except redis.RedisError:
        return False


def test_make_run_warns_when_the_redis_it_reuses_keeps_nothing_on_disk(tmp_path, redis_server):
    server = redis_server(appendonly=False)
    env = {**os.environ, "DATA_DIR": str(tmp_path / "data"), "REDIS_URL": server.url}
    reused = _redis_sh(env, "--persist")
    assert reused.returncode == 0
    assert reused.stdout.strip() == ""  # not started here, so not stopped by make run
    assert "keeps nothing on disk" in reused.stderr
