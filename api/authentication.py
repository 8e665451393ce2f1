"""API key authentication: ``x-api-key: <key>`` or ``Authorization: Bearer <key>`` (what OpenAI's SDK sends);
the request runs as the key's owner."""

from __future__ import annotations

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


class ApiKeyAuthentication(BaseAuthentication):
    """Reads ``x-api-key`` (or a Bearer token); missing, malformed, unknown, revoked and expired keys fail alike."""

    def authenticate(self, request: Request):
        key = presented_key(request.META)
        if not key:
            return None  # lets session authentication (the sandbox) try; else 401 below
        prefix, dot, secret = key.partition(".")
        if not dot or not prefix or not secret or len(key) > 200:
            raise exceptions.AuthenticationFailed(INVALID_KEY_MESSAGE)
        api_key = (
            UserAPIKey.objects.select_related("user")
            .filter(prefix=prefix, revoked=False)
            .first()
        )
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
