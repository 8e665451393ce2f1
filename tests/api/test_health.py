"""GET /api/health: a load balancer's readiness check, without a key."""

from __future__ import annotations

import socket

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def test_health_answers_ok_without_a_key():
    response = APIClient().get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


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
