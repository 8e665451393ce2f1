"""API key authentication: ``x-api-key: <key>`` or ``Authorization: Bearer <key>`` (what OpenAI's SDK sends);
the request runs as the key's owner."""

from __future__ import annotations

import threading
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, CSRFCheck, SessionAuthentication
from rest_framework.request import Request

from dashboard.models import UserAPIKey
from dashboard.services import api_key_touch
from inference.errors import Forbidden

# One message for every failure, so a caller learns nothing about which keys exist.
INVALID_KEY_MESSAGE = "A valid API key is required in the x-api-key header (or as Authorization: Bearer <key>)."
AUTHENTICATE_HEADER = 'ApiKey header="x-api-key"'


def presented_key(meta: dict) -> str:
    """The key a request presents: its ``x-api-key`` header, else a Bearer token ("" for neither)."""
    key = meta.get("HTTP_X_API_KEY", "")
    if key:
        return key
    scheme, _, token = meta.get("HTTP_AUTHORIZATION", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


# prefix -> (when read, the key's row with its user). A key's row is read again after API_KEY_CACHE_S
# (1 s): a key revoked, expired or rotated, or an owner deactivated, in another process stops working
# within that time, and at once in this one (``_forget``). The secret is checked on every request.
# The row's query was 0.57 core-ms of a request's web-side 7 (benchmarks/peers, docs/perf/README.md).
_KEYS: dict[str, tuple[float, UserAPIKey]] = {}
_KEYS_LOCK = threading.Lock()
_KEYS_MAX = 10_000


def _key_row(prefix: str) -> UserAPIKey | None:
    ttl = settings.API_KEY_CACHE_S
    now = time.monotonic()
    cached = _KEYS.get(prefix)
    if cached is not None and now - cached[0] < ttl:
        return cached[1]
    api_key = UserAPIKey.objects.select_related("user").filter(prefix=prefix, revoked=False).first()
    if api_key is not None and ttl > 0:
        with _KEYS_LOCK:
            if len(_KEYS) >= _KEYS_MAX:
                _KEYS.clear()
            _KEYS[prefix] = (now, api_key)
    return api_key


@receiver(post_save, sender=UserAPIKey, dispatch_uid="api-key-cache-forget")
def _forget(sender: type, instance: UserAPIKey, **_: object) -> None:
    with _KEYS_LOCK:
        _KEYS.pop(instance.prefix, None)


@receiver(post_save, dispatch_uid="api-key-cache-forget-owner")
def _forget_owner(sender: type, instance: object, **_: object) -> None:
    """A saved user (deactivated, say): their keys are read again."""
    if sender is not get_user_model():
        return
    with _KEYS_LOCK:
        for prefix in [p for p, (_, key) in _KEYS.items() if key.user_id == instance.pk]:  # type: ignore[attr-defined]
            _KEYS.pop(prefix, None)


class ApiKeyAuthentication(BaseAuthentication):
    """Reads ``x-api-key`` (or a Bearer token); missing, malformed, unknown, revoked and expired keys fail alike."""

    def authenticate(self, request: Request):
        key = presented_key(request.META)
        if not key:
            return None  # lets session authentication (the sandbox) try; else 401 below
        prefix, dot, secret = key.partition(".")
        if not dot or not prefix or not secret or len(key) > 200:
            raise exceptions.AuthenticationFailed(INVALID_KEY_MESSAGE)
        api_key = _key_row(prefix)
        if api_key is None or not api_key.is_valid(key):
            raise exceptions.AuthenticationFailed(INVALID_KEY_MESSAGE)
        if api_key.expiry_date is not None and api_key.expiry_date <= timezone.now():
            raise exceptions.AuthenticationFailed(INVALID_KEY_MESSAGE)
        if not api_key.user.is_active:
            raise exceptions.AuthenticationFailed(INVALID_KEY_MESSAGE)
        api_key_touch(api_key=api_key)
        return (api_key.user, api_key)

    def authenticate_header(self, request: Request) -> str:
        return AUTHENTICATE_HEADER


class SandboxSessionAuthentication(SessionAuthentication):
    """The logged-in browser session (the sandbox); CSRF-checked. ``auth`` is None."""

    def authenticate_header(self, request: Request) -> str:
        return AUTHENTICATE_HEADER


class TaskSessionAuthentication(SandboxSessionAuthentication):
    """The sandbox's session on the task endpoints: a missing or wrong CSRF token is ``csrf_failed``.

    The check reads Django's request, not DRF's: DRF's would parse the body with DRF's parsers to look
    for a form token, and the task endpoints read the body themselves (``api.parsing.read_body``).
    """

    def enforce_csrf(self, request: Request) -> None:
        check = CSRFCheck(lambda _: None)
        check.process_request(request._request)
        if check.process_view(request._request, None, (), {}) is not None:
            raise Forbidden("csrf_failed", "The sandbox session needs a CSRF token (X-CSRFToken header).")
