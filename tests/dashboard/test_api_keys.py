"""API keys: create (shown once), list, revoke, rotate with and without grace, expiry, hashing."""

from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from dashboard.models import UserAPIKey
from dashboard.services import KeyNotChanged, api_key_create, api_key_revoke, api_key_rotate

pytestmark = pytest.mark.django_db


def me(key: str):
    client = APIClient()
    return client.get("/api/me", HTTP_X_API_KEY=key)


def test_create_shows_the_key_once_and_lists_it_by_prefix(client, user):
    client.force_login(user)
    response = client.post(reverse("dashboard:keys"), {"name": "laptop"})
    page = response.content.decode()
    key = UserAPIKey.objects.get(user=user, name="laptop")
    plaintext = response.context["issued"].plaintext
    assert plaintext.startswith(key.prefix + ".")
    assert plaintext in page
    again = client.get(reverse("dashboard:keys")).content.decode()
    assert plaintext not in again
    assert key.prefix in again and "laptop" in again and "active" in again
    assert me(plaintext).json()["key"] == "laptop"


def test_no_plaintext_key_in_the_database(user):
    issued = api_key_create(user=user, name="secret-check")
    secret = issued.plaintext.split(".", 1)[1]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {UserAPIKey._meta.db_table}")
        rows = cursor.fetchall()
    dump = repr(rows)
    assert secret not in dump and issued.plaintext not in dump
    assert issued.api_key.hashed_key.startswith("sha512$$")


def test_revoke(client, user, issued_key):
    assert me(issued_key.plaintext).status_code == 200
    client.force_login(user)
    client.post(reverse("dashboard:key_revoke", args=[issued_key.api_key.prefix]))
    assert me(issued_key.plaintext).status_code == 401
    assert "revoked" in client.get(reverse("dashboard:keys")).content.decode()


def test_rotate_without_grace_stops_the_old_key_now(user, issued_key):
    new = api_key_rotate(api_key=issued_key.api_key, grace_hours=0)
    assert me(issued_key.plaintext).status_code == 401
    assert me(new.plaintext).status_code == 200
    assert new.api_key.name == issued_key.api_key.name


def test_rotate_with_grace_keeps_both_until_it_ends(client, user, issued_key):
    client.force_login(user)
    response = client.post(reverse("dashboard:key_rotate", args=[issued_key.api_key.prefix]), {"grace_hours": 2})
    new_plaintext = response.context["issued"].plaintext
    assert me(issued_key.plaintext).status_code == 200
    assert me(new_plaintext).status_code == 200
    old = UserAPIKey.objects.get(pk=issued_key.api_key.pk)
    assert old.state == "expiring"
    assert abs((old.expiry_date - timezone.now()) - timedelta(hours=2)) < timedelta(minutes=1)
    # When the grace period is over, only the new key works.
    old.expiry_date = timezone.now() - timedelta(seconds=1)  # saved: the web process reads the row again
    old.save(update_fields=["expiry_date"])
    assert me(issued_key.plaintext).status_code == 401
    assert me(new_plaintext).status_code == 200


def test_expiry_date(user):
    issued = api_key_create(user=user, name="short-lived", expiry_date=timezone.now() + timedelta(hours=1))
    assert me(issued.plaintext).status_code == 200
    issued.api_key.expiry_date = timezone.now() - timedelta(minutes=1)  # saved: the row is read again
    issued.api_key.save(update_fields=["expiry_date"])
    assert me(issued.plaintext).status_code == 401


def test_another_users_key_cannot_be_revoked(client, other_user, issued_key):
    client.force_login(other_user)
    response = client.post(reverse("dashboard:key_revoke", args=[issued_key.api_key.prefix]))
    assert response.status_code == 404
    assert me(issued_key.plaintext).status_code == 200


def test_revoked_key_cannot_be_rotated(user, issued_key):
    api_key_revoke(api_key=issued_key.api_key)
    with pytest.raises(KeyNotChanged, match="is revoked and cannot be rotated"):
        api_key_rotate(api_key=issued_key.api_key)
