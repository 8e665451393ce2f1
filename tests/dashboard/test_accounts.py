"""Accounts: sign up, log in and out, password change and reset (throttled). Login throttling: test_login_throttle."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.cache import cache
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear_throttle():
    cache.clear()
    yield
    cache.clear()


def test_signup_logs_in_and_walks_to_the_sandbox(client):
    response = client.post(reverse("dashboard:signup"), {
        "username": "carol", "email": "carol@example.com",
        "password1": "a-long-enough-passphrase", "password2": "a-long-enough-passphrase",
    }, follow=True)
    assert response.status_code == 200
    assert get_user_model().objects.filter(username="carol").exists()
    assert response.wsgi_request.user.is_authenticated
    page = response.content.decode()
    assert "Open the sandbox" in page and "Create a key" in page


def test_signup_rejects_a_taken_name_and_a_weak_password(client, user):
    response = client.post(reverse("dashboard:signup"), {
        "username": "alice", "email": "a@example.com", "password1": "123", "password2": "123"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "already exists" in page
    assert "too short" in page


def test_login_and_logout(client, user):
    response = client.post(reverse("dashboard:login"), {"username": "alice", "password": "s3cret-pass-word"})
    assert response.status_code == 302
    assert client.get(reverse("dashboard:keys")).status_code == 200
    client.post(reverse("dashboard:logout"))
    assert client.get(reverse("dashboard:keys")).status_code == 302


def test_password_change(client, user):
    client.force_login(user)
    response = client.post(reverse("dashboard:password_change"), {
        "old_password": "s3cret-pass-word", "new_password1": "another-long-passphrase",
        "new_password2": "another-long-passphrase"})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("another-long-passphrase")


def test_password_reset_by_email(client, user):
    response = client.post(reverse("dashboard:password_reset"), {"email": "alice@example.com"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/]+(/password/reset/\S+/)", mail.outbox[0].body).group(1)
    response = client.get(link, follow=True)
    form_url = response.redirect_chain[-1][0]
    response = client.post(form_url, {"new_password1": "fresh-long-passphrase",
                                      "new_password2": "fresh-long-passphrase"})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("fresh-long-passphrase")


def test_password_reset_emails_are_throttled_per_email_address(client, user, settings):
    assert settings.PASSWORD_RESET_LIMIT_PER_EMAIL == 3
    for attempt in range(3):
        response = client.post(reverse("dashboard:password_reset"), {"email": "alice@example.com"},
                               REMOTE_ADDR=f"10.0.1.{attempt}")
        assert response.status_code == 302
    response = client.post(reverse("dashboard:password_reset"), {"email": "ALICE@example.com"},
                           REMOTE_ADDR="10.0.1.9")
    assert response.status_code == 429
    assert "Too many password reset e-mails" in response.content.decode()
    assert len(mail.outbox) == 3


def test_password_reset_emails_are_throttled_per_client_address(client, user, settings):
    assert settings.PASSWORD_RESET_LIMIT_PER_ADDRESS == 10
    for attempt in range(10):
        response = client.post(reverse("dashboard:password_reset"), {"email": f"someone{attempt}@example.com"},
                               REMOTE_ADDR="10.0.2.1")
        assert response.status_code == 302
    response = client.post(reverse("dashboard:password_reset"), {"email": "alice@example.com"},
                           REMOTE_ADDR="10.0.2.1")
    assert response.status_code == 429
    assert len(mail.outbox) == 0
    # Another address may still ask for alice's link.
    response = client.post(reverse("dashboard:password_reset"), {"email": "alice@example.com"},
                           REMOTE_ADDR="10.0.2.2")
    assert response.status_code == 302
    assert len(mail.outbox) == 1
