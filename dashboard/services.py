"""Writes for accounts and API keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from .models import UserAPIKey

User = get_user_model()


@dataclass(frozen=True)
class IssuedKey:
    """A key as issued: the row and the plaintext, which is shown once and never stored."""

    api_key: UserAPIKey
    plaintext: str


def user_signup(*, username: str, email: str, password: str) -> AbstractBaseUser:
    """Create an account. Validation (unique name, password rules) is the form's job."""
    return User.objects.create_user(username=username, email=email, password=password)


def api_key_create(*, user: AbstractBaseUser, name: str, expiry_date: datetime | None = None) -> IssuedKey:
    """Issue a new key for ``user``. The returned plaintext is the only copy."""
    api_key, plaintext = UserAPIKey.objects.create_key(user=user, name=name, expiry_date=expiry_date)
    return IssuedKey(api_key=api_key, plaintext=plaintext)


class KeyNotChanged(Exception):
    """A rotate or revoke that was not done, with the reason a user can read."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@transaction.atomic
def api_key_revoke(*, api_key: UserAPIKey) -> UserAPIKey:
    """Stop a key from working, now. Revocation is final; revoking a revoked key changes nothing.

    Raises ``KeyNotChanged`` when the key was already revoked.
    """
    key = UserAPIKey.objects.select_for_update().get(pk=api_key.pk)
    if key.revoked:
        raise KeyNotChanged(f"The key '{key.name}' ({key.prefix}…) was already revoked.")
    key.revoked = True
    key.revoked_at = timezone.now()
    key.save(update_fields=["revoked", "revoked_at"])
    return key


@transaction.atomic
def api_key_rotate(*, api_key: UserAPIKey, grace_hours: int = 0) -> IssuedKey:
    """Issue a replacement for ``api_key`` with the same name and expiry.

    With ``grace_hours`` = 0 the old key stops working at once (revoked);
    otherwise it keeps working until the grace period ends, then expires.
    A key is replaced once: rotating a key that was already rotated (from a
    stale page, or a second click), revoked or expired raises
    ``KeyNotChanged`` naming what to do instead. The checks run on the locked
    row, so two rotations at once issue one successor.
    """
    old = UserAPIKey.objects.select_for_update().get(pk=api_key.pk)
    successor = UserAPIKey.objects.filter(rotated_from=old).first()
    if successor is not None:
        raise KeyNotChanged(
            f"The key '{old.name}' ({old.prefix}…) was already rotated: its successor is {successor.prefix}…. "
            f"Rotate {successor.prefix}… instead, or revoke {old.prefix}… to stop it now.")
    if old.revoked:
        raise KeyNotChanged(f"The key '{old.name}' ({old.prefix}…) is revoked and cannot be rotated; "
                            "create a new key instead.")
    if not old.is_usable:
        raise KeyNotChanged(f"The key '{old.name}' ({old.prefix}…) has expired and cannot be rotated; "
                            "create a new key instead.")
    issued = api_key_create(user=old.user, name=old.name, expiry_date=old.expiry_date)
    issued.api_key.rotated_from = old
    issued.api_key.save(update_fields=["rotated_from"])
    if grace_hours > 0:
        grace_end = timezone.now() + timedelta(hours=grace_hours)
        if old.expiry_date is None or old.expiry_date > grace_end:
            old.expiry_date = grace_end
            old.save(update_fields=["expiry_date"])
    else:
        old.revoked = True
        old.revoked_at = timezone.now()
        old.save(update_fields=["revoked", "revoked_at"])
    return issued


def api_key_touch(*, api_key: UserAPIKey) -> None:
    """Record use, at most once a minute per key, so authentication stays cheap."""
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > timedelta(minutes=1):
        UserAPIKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now


def _window_count(key: str, window_s: int) -> int:
    """Count one more in a fixed window; atomic (Redis INCR), so parallel requests each get their own number."""
    cache.add(key, 0, timeout=window_s)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=window_s)
        return 1


def password_reset_request_record(*, email: str, address: str) -> bool:
    """Count a password-reset request; False when the e-mail address or the client address asked too often.

    Counted whether or not an account has that e-mail, so a refusal tells nothing about accounts.
    """
    window = settings.PASSWORD_RESET_WINDOW_S
    per_email = _window_count(f"password-reset:email:{email.strip().lower()}", window)
    per_address = _window_count(f"password-reset:ip:{address}", window)
    return (per_email <= settings.PASSWORD_RESET_LIMIT_PER_EMAIL
            and per_address <= settings.PASSWORD_RESET_LIMIT_PER_ADDRESS)
