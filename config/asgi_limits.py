"""The ASGI handler that bounds a request body while it streams in.

Django's ``ASGIHandler`` writes the whole body to a temporary file before any
middleware or view runs, so a limit checked in a view comes after the disk has
filled. ``BoundedBodyASGIHandler`` decides from the request line and headers,
before it reads a byte of the body:

- a ``Content-Length`` over the path's limit is refused with 413;
- a body sent to an API endpoint that needs a key, with neither an
  ``x-api-key`` header nor a session cookie, is refused with 401 (the answer it
  would get anyway, after the upload);

and it counts the bytes of a body that has no length (``Transfer-Encoding:
chunked``), refusing it with 413 as soon as it passes the limit. The limit is
``UPLOAD_MAX_BYTES`` plus the form's other fields for the upload endpoints, and
``API_MAX_BODY_BYTES`` for every other request.

A refused request still goes through the middleware with an empty body, so its
response has a request id and the usual headers; ``RequestIdMiddleware``
answers it (``api.middleware.BODY_REFUSED``). The response closes the
connection, so the rest of the body is never read.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.http.cookie import parse_cookie
from django.urls import Resolver404, resolve
from rest_framework.permissions import AllowAny

from api.authentication import INVALID_KEY_MESSAGE
from api.middleware import BODY_REFUSED
from config.middleware import ON_THE_LOOP
from inference.errors import ApiError, TooLarge, Unauthenticated

# The endpoints that take a model upload (the API's and the models page's), with their larger limit.
UPLOAD_VIEWS = frozenset({"api:model-list", "dashboard:models"})


@dataclass(frozen=True)
class BodyRule:
    limit: int  # bytes
    needs_key: bool  # an API endpoint that answers 401 without credentials
    async_view: bool = False  # the view is a coroutine function (the task endpoints, /v1)


def body_rule(path_info: str) -> BodyRule:
    """The body limit of a path, and whether it needs a key (from the URL conf, so new endpoints follow)."""
    try:
        match = resolve(path_info)
    except Resolver404:
        return BodyRule(settings.API_MAX_BODY_BYTES, False)
    async_view = iscoroutinefunction(match.func)
    if match.view_name in UPLOAD_VIEWS:
        # The file, plus the other form fields (bounded by Django at DATA_UPLOAD_MAX_MEMORY_SIZE).
        limit = settings.UPLOAD_MAX_BYTES + settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    else:
        limit = settings.API_MAX_BODY_BYTES
    # Under /api/, every named endpoint needs a key unless its DRF view allows anyone (health, schema, docs);
    # the catch-all 404 has no name.
    view_class = getattr(match.func, "cls", None)
    public = view_class is not None and all(issubclass(p, AllowAny) for p in view_class.permission_classes)
    return BodyRule(limit, match.namespace in ("api", "openai") and match.url_name is not None and not public,
                    async_view)


def _too_large(limit: int, length: int | None = None) -> ApiError:
    if length is None:
        message = f"The request body is over the limit of {limit:,} bytes."
    else:
        message = f"The request body is {length:,} bytes; the limit is {limit:,}."
    return TooLarge("payload_too_large", message)


def _refusal_from_headers(scope: dict, rule: BodyRule) -> ApiError | None:
    headers: dict[bytes, bytes] = {}
    for name, value in scope.get("headers", []):
        headers[name.lower()] = value
    try:
        length = int(headers.get(b"content-length", b"0"))
    except ValueError:
        length = 0  # the server refuses a malformed length before the application runs
    if length > rule.limit:
        return _too_large(rule.limit, length)
    has_body = length > 0 or b"transfer-encoding" in headers
    has_key = headers.get(b"x-api-key") or headers.get(b"authorization", b"").lower().startswith(b"bearer ")
    if has_body and rule.needs_key and not has_key:
        cookies = parse_cookie(headers.get(b"cookie", b"").decode("latin-1"))
        if not cookies.get(settings.SESSION_COOKIE_NAME):
            return Unauthenticated("invalid_api_key", INVALID_KEY_MESSAGE)  # with its WWW-Authenticate
    return None


_RULE = "forwardpass.body_rule"


def _path_info(scope: dict) -> str:
    return scope["path"].removeprefix(scope.get("root_path", "")) or "/"


class _BoundedReceive:
    """The ASGI ``receive`` of one request: ends the body at a refusal, and never reads past it."""

    _END = {"type": "http.request", "body": b"", "more_body": False}

    def __init__(self, receive, scope: dict, limit: int) -> None:
        self.receive, self.scope, self.limit = receive, scope, limit
        self.received = 0
        self.ended = False  # the end of the body was handed to Django

    async def __call__(self) -> dict:
        if BODY_REFUSED in self.scope:
            if not self.ended:
                self.ended = True
                return dict(self._END)
            # Django listens for a disconnect while the view runs; reading on would read the rest of
            # the body. The refusal is answered at once, and this wait is cancelled then.
            await asyncio.get_running_loop().create_future()
        message = await self.receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                self.scope[BODY_REFUSED] = _too_large(self.limit)
                self.ended = True
                return dict(self._END)
            self.ended = not message.get("more_body", False)
        return message


class BoundedBodyASGIHandler(ASGIHandler):
    """Django's ASGI handler, with request bodies bounded before they are read (see the module docstring).

    It loads the middleware of ``settings.MIDDLEWARE`` with Django's security, CSRF and X-Frame-Options
    classes replaced by their subclasses that run on the event loop (``config.middleware.ON_THE_LOOP``):
    as Django's classes each of their hooks went to a thread, six to eight hops a request.
    """

    async def __call__(self, scope, receive, send):
        """Django's entry point, without a thread of its own per request for a view that is a coroutine.

        Django runs each request in a ``ThreadSensitiveContext``: the request's first thread-sensitive sync
        call (its ``request_started`` and ``request_finished`` signals, at least) starts a thread for that
        request alone, which was half the web's own cost of a task request (1.45 -> 0.78 core-ms a request
        through the middleware, in-process). An async view's request makes those few calls on asgiref's
        one long-lived sync thread instead; its database work runs on the event loop's pool
        (``api.waiting.run_sync``). Sync views (pages) keep their own thread.
        """
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)  # Django refuses it
            return
        scope = {**scope, _RULE: body_rule(_path_info(scope))}  # this request's own: read once, in handle
        if scope[_RULE].async_view:
            await self.handle(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    def load_middleware(self, is_async: bool = False) -> None:
        listed = settings.MIDDLEWARE
        if is_async:
            settings.MIDDLEWARE = [ON_THE_LOOP.get(path, path) for path in listed]
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = listed

    async def handle(self, scope, receive, send):
        scope = dict(scope)  # this request's own: a refusal is noted in it
        rule = scope.pop(_RULE, None) or body_rule(_path_info(scope))
        refusal = _refusal_from_headers(scope, rule)
        if refusal is not None:
            scope[BODY_REFUSED] = refusal

        async def send_closing(message: dict) -> None:
            # A refused body is not read to its end: the connection cannot carry another request.
            if message["type"] == "http.response.start" and BODY_REFUSED in scope:
                message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        await super().handle(scope, _BoundedReceive(receive, scope, rule.limit), send_closing)
