"""x-api-key authentication: GET /api/me, and one 401 body for every bad key."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from dashboard.models import UserAPIKey
from dashboard.services import api_key_revoke

pytestmark = pytest.mark.django_db


def test_me_returns_the_owner_and_key_name(issued_key):
    response = APIClient().get("/api/me", HTTP_X_API_KEY=issued_key.plaintext)
    assert response.status_code == 200
    assert response.json() == {"user": "alice", "key": "test key", "key_prefix": issued_key.api_key.prefix}
    assert response["X-Request-Id"]
    issued_key.api_key.refresh_from_db()
    assert issued_key.api_key.last_used_at is not None


def _bad_keys(issued_key):
    prefix = issued_key.api_key.prefix
    yield "missing", None
    yield "malformed", "no-dot-in-this-key"
    yield "unknown", "ZZZZZZZZ.abcdefghijklmnopqrstuvwxyz012345"
    yield "wrong secret", f"{prefix}.abcdefghijklmnopqrstuvwxyz012345"


def test_every_bad_key_gets_the_same_401(issued_key):
    bodies = []
    for label, key in _bad_keys(issued_key):
        headers = {"HTTP_X_API_KEY": key} if key else {}
        response = APIClient().get("/api/me", **headers)
        assert response.status_code == 401, label
        assert response["Content-Type"] == "application/json", label
        assert "x-api-key" in response["WWW-Authenticate"], label
        body = response.json()
        body.pop("request_id")
        bodies.append(body)
    # revoked, then expired
    other = UserAPIKey.objects.create_key(user=issued_key.api_key.user, name="x")
    api_key_revoke(api_key=other[0])
    expired = UserAPIKey.objects.create_key(user=issued_key.api_key.user, name="y",
                                            expiry_date=timezone.now() - timedelta(seconds=1))
    for key in (other[1], expired[1]):
        response = APIClient().get("/api/me", HTTP_X_API_KEY=key)
        assert response.status_code == 401
        body = response.json()
        body.pop("request_id")
        bodies.append(body)
    assert all(body == bodies[0] for body in bodies)
    assert bodies[0]["error"]["status"] == 401


def test_unknown_api_path_is_json_404(api_client):
    response = api_client.get("/api/no-such-thing")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_a_key_revoked_here_stops_at_once(issued_key):
    """The web process reuses a key's row for a second; a revoke (or rotate) in this process forgets it."""
    client = APIClient()
    assert client.get("/api/me", HTTP_X_API_KEY=issued_key.plaintext).status_code == 200
    api_key_revoke(api_key=issued_key.api_key)
    assert client.get("/api/me", HTTP_X_API_KEY=issued_key.plaintext).status_code == 401


def test_an_owner_deactivated_here_is_refused_at_once(issued_key):
    client = APIClient()
    assert client.get("/api/me", HTTP_X_API_KEY=issued_key.plaintext).status_code == 200
    owner = issued_key.api_key.user
    owner.is_active = False
    owner.save()
    assert client.get("/api/me", HTTP_X_API_KEY=issued_key.plaintext).status_code == 401


def test_a_key_revoked_by_another_process_stops_within_the_cache_time(issued_key, settings):
    import time

    settings.API_KEY_CACHE_S = 0.5
    client = APIClient()
    assert client.get("/api/me", HTTP_X_API_KEY=issued_key.plaintext).status_code == 200
    # Another web process (or the admin's bulk action) revokes it: no signal reaches this one.
    UserAPIKey.objects.filter(pk=issued_key.api_key.pk).update(revoked=True, revoked_at=timezone.now())
    time.sleep(0.6)
    assert client.get("/api/me", HTTP_X_API_KEY=issued_key.plaintext).status_code == 401
