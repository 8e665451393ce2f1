"""GET /api/health: a load balancer's readiness check, without a key."""

from __future__ import annotations

import socket
import time

import pytest
from rest_framework.test import APIClient

from tests.ops.redisserver import RedisServer

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker(settings, tmp_path):
    """A broker Redis of the test's own (``broker(appendonly=...)``), stopped afterwards."""
    started = []

    def start(*, appendonly: bool) -> RedisServer:
        server = RedisServer(tmp_path / f"redis-{len(started)}", appendonly=appendonly).start()
        started.append(server)
        settings.CELERY_BROKER_URL = settings.REDIS_URL = server.url
        return server

    yield start
    for server in started:
        server.stop()


def test_health_answers_ok_without_a_key(broker):
    broker(appendonly=True)
    response = APIClient().get("/api/health")
    assert response.status_code == 200
    body = response.json()
    models, workers = body.pop("models"), body.pop("workers")
    assert body == {"status": "ok", "checks": {"database": "ok", "redis": "ok"},
                    "broker_persistence": "aof", "warnings": []}
    # No worker runs here: every installed model is cold, and that is no failure.
    from inference.catalog import catalog_models

    assert models == {spec.id: "cold" for spec in catalog_models() if spec.installed and not spec.internal}
    assert workers == 0


def test_health_warns_when_the_broker_keeps_nothing_on_disk(broker):
    broker(appendonly=False)  # no append-only file and no snapshots, like the Redis of a plain apt install here
    response = APIClient().get("/api/health")
    assert response.status_code == 200  # it still works: a warning, not a failure
    body = response.json()
    assert body["status"] == "ok"
    assert body["broker_persistence"] == "none"
    assert any("keeps nothing on disk" in warning for warning in body["warnings"])


def test_health_says_which_service_is_down(settings):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port}/0"
    response = APIClient().get("/api/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "failing"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("failing")


def test_health_answers_503_within_its_bound_when_redis_is_frozen(broker):
    server = broker(appendonly=True)
    server.freeze()  # the process stops answering; its port still accepts connections
    try:
        started = time.monotonic()
        response = APIClient().get("/api/health")
        elapsed = time.monotonic() - started
    finally:
        server.thaw()
    assert response.status_code == 503
    assert response.json()["checks"]["redis"] == "failing: TimeoutError"
    assert elapsed < 5  # each check is bounded by 2 s
    assert APIClient().get("/api/health").status_code == 200
