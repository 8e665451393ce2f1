"""Rotating and revoking keys in any order, through the keys page: never a 500, keys stay consistent,
and the page says what happened."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from dashboard.models import UserAPIKey

pytestmark = pytest.mark.django_db


def works(plaintext: str) -> bool:
    return APIClient().get("/api/me", HTTP_X_API_KEY=plaintext).status_code == 200


@pytest.fixture
def page(client, user) -> Client:
    client.force_login(user)
    client.raise_request_exception = False  # a 500 is an answer to look at, as a user would see it
    return client


def create(page: Client, name: str = "prod") -> str:
    response = page.post(reverse("dashboard:keys"), {"name": name})
    assert response.status_code == 201
    return response.context["issued"].plaintext


def rotate(page: Client, plaintext: str, grace_hours: int):
    prefix = plaintext.split(".", 1)[0]
    return page.post(reverse("dashboard:key_rotate", args=[prefix]), {"grace_hours": grace_hours}, follow=True)


def revoke(page: Client, plaintext: str):
    return page.post(reverse("dashboard:key_revoke", args=[plaintext.split(".", 1)[0]]), follow=True)


def new_key(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.context["issued"].plaintext


def text(response) -> str:
    return response.content.decode()


def assert_consistent(user) -> None:
    """Every key has at most one successor, a rotated key is revoked or expiring, the successor is younger."""
    for key in UserAPIKey.objects.filter(user=user):
        successor = UserAPIKey.objects.filter(rotated_from=key)
        assert successor.count() <= 1
        if successor.exists():
            assert key.revoked or key.expiry_date is not None, key.prefix
            assert successor.get().created >= key.created


def test_rotating_a_key_in_its_grace_period_again_says_to_rotate_its_successor(page, user):
    old = create(page)
    successor = new_key(rotate(page, old, grace_hours=24))
    response = rotate(page, old, grace_hours=24)
    assert response.status_code == 200
    assert "issued" not in response.context or response.context["issued"] is None
    message = text(response)
    assert "already rotated" in message and successor.split(".")[0] in message
    assert works(old) and works(successor)
    assert UserAPIKey.objects.filter(user=user).count() == 2
    assert_consistent(user)


def test_rotating_the_successor_while_the_old_key_is_in_grace(page, user):
    old = create(page)
    successor = new_key(rotate(page, old, grace_hours=24))
    third = new_key(rotate(page, successor, grace_hours=1))
    assert works(old) and works(successor) and works(third)
    assert UserAPIKey.objects.get(prefix=successor.split(".")[0]).state == "expiring"
    # and once more, without grace: the successor stops now, the first one keeps its own grace period
    fourth = new_key(rotate(page, third, grace_hours=0))
    assert not works(third) and works(fourth)
    assert_consistent(user)


def test_rotating_twice_from_a_stale_page_without_grace(page, user):
    old = create(page)
    successor = new_key(rotate(page, old, grace_hours=0))
    response = rotate(page, old, grace_hours=0)
    assert response.status_code == 200
    assert "already rotated" in text(response) and successor.split(".")[0] in text(response)
    assert not works(old) and works(successor)
    assert_consistent(user)


def test_revoke_then_rotate_says_the_key_is_revoked(page, user):
    old = create(page)
    revoke(page, old)
    response = rotate(page, old, grace_hours=5)
    assert response.status_code == 200
    assert "is revoked" in text(response) and "create a new key" in text(response)
    assert not works(old)
    assert UserAPIKey.objects.filter(user=user).count() == 1


def test_rotate_then_revoke_the_successor_tells_the_old_key_still_works(page, user):
    old = create(page)
    successor = new_key(rotate(page, old, grace_hours=24))
    response = revoke(page, successor)
    assert not works(successor) and works(old)
    assert "still works until" in text(response)
    # revoking it twice changes nothing and says so
    revoked_at = UserAPIKey.objects.get(prefix=successor.split(".")[0]).revoked_at
    response = revoke(page, successor)
    assert "already revoked" in text(response)
    assert UserAPIKey.objects.get(prefix=successor.split(".")[0]).revoked_at == revoked_at
    assert_consistent(user)


def test_rotated_keys_show_their_successor_and_no_rotate_button(page, user):
    old = create(page)
    successor = new_key(rotate(page, old, grace_hours=24))
    listing = text(page.get(reverse("dashboard:keys")))
    old_prefix, successor_prefix = old.split(".")[0], successor.split(".")[0]
    assert f"replaced by <code>{successor_prefix}…</code>" in listing
    assert reverse("dashboard:key_rotate", args=[old_prefix]) not in listing
    assert reverse("dashboard:key_rotate", args=[successor_prefix]) in listing
    assert reverse("dashboard:key_revoke", args=[old_prefix]) in listing


@pytest.mark.parametrize("sequence", [
    "rotate24 rotate24 revoke rotate0",
    "rotate0 rotate0 revoke revoke",
    "revoke rotate24 rotate0",
    "rotate24 successor:rotate24 successor:rotate0 rotate24 successor:revoke rotate0",
])
def test_any_sequence_of_rotate_and_revoke_is_never_a_500(page, user, sequence):
    first = create(page)
    current = first
    for step in sequence.split():
        target_is_successor = step.startswith("successor:")
        action = step.removeprefix("successor:")
        target = current if target_is_successor else first
        response = revoke(page, target) if action == "revoke" else rotate(page, target, int(action[6:]))
        assert response.status_code == 200, step
        if response.context.get("issued"):
            current = response.context["issued"].plaintext
        assert_consistent(user)
    assert works(current) or UserAPIKey.objects.get(prefix=current.split(".")[0]).revoked
