"""Request ids on every response, and JSON (never HTML) errors under ``/api/``."""

from __future__ import annotations

import contextvars
import logging
import re
import uuid

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse

from inference.errors import ApiError, Unavailable

from .errors import api_error_response, error_headers, error_status, is_api_path, status_error_response
from .request_id import current_request_id, request_id_var, request_path_var

__all__ = ["BODY_REFUSED", "BodyRefusedMiddleware", "RequestIdMiddleware", "current_request_id"]

logger = logging.getLogger(__name__)
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

# The ASGI scope key under which ``config.asgi_limits`` notes a body it refused (an ``ApiError``) before
# reading it.
BODY_REFUSED = "forwardpass.body_refused"


def _as_api_error(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """Django's own HTML error pages (404, 413, 500, CSRF 403) become JSON under /api/ and /v1/."""
    if not is_api_path(request.path) or response.status_code < 400:
        return response
    if response.get("Content-Type", "").startswith("application/json") or response.streaming:
        return response
    messages = {
        400: "Bad request.",
        403: "Forbidden.",
        404: f"No API endpoint at {request.path}.",
        405: "Method not allowed.",
        413: "The request body is too large.",
        500: "Internal server error. The request id identifies it in the server logs.",
    }
    replaced = status_error_response(response.status_code, messages.get(response.status_code, "Error."))
    for header in ("Retry-After", "Allow", "WWW-Authenticate"):
        if header in response:
            replaced[header] = response[header]
    return replaced


def _body_refused(request: HttpRequest) -> HttpResponse | None:
    """The answer to a body the ASGI handler refused unread (too large, or no key): JSON under /api/."""
    refusal: ApiError | None = getattr(request, "scope", {}).get(BODY_REFUSED)
    if refusal is None:
        return None
    if is_api_path(request.path):
        response = api_error_response(refusal)
    else:
        response = HttpResponse(refusal.message, status=error_status(refusal),
                                content_type="text/plain; charset=utf-8")
        for name, value in error_headers(refusal).items():
            response[name] = value
    response["Content-Length"] = str(len(response.content))
    return response


class RequestIdMiddleware:
    """Sets ``X-Request-Id`` (a caller's own id is kept when well-formed)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def _start(self, request: HttpRequest) -> tuple[contextvars.Token, contextvars.Token]:
        given = request.headers.get("X-Request-Id", "")
        request.request_id = given if _VALID_ID.match(given) else uuid.uuid4().hex
        return request_id_var.set(request.request_id), request_path_var.set(request.path)

    @staticmethod
    def _reset(tokens: tuple[contextvars.Token, contextvars.Token]) -> None:
        request_id_var.reset(tokens[0])
        request_path_var.reset(tokens[1])

    def _finish(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        response = _as_api_error(request, response)
        response["X-Request-Id"] = request.request_id
        return response

    def __call__(self, request: HttpRequest):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        tokens = self._start(request)
        try:
            return self._finish(request, self.get_response(request))
        finally:
            self._reset(tokens)

    async def __acall__(self, request: HttpRequest):
        tokens = self._start(request)
        try:
            return self._finish(request, await self.get_response(request))
        finally:
            self._reset(tokens)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """Redis (the events or the broker) or the database down, frozen or restarting: 503 JSON with
        Retry-After under /api/ and /v1/, not a 500."""
        if not is_api_path(request.path):
            return None
        if isinstance(exception, _unavailable_errors()):
            logger.warning("503 for %s: Redis is not answering (%s)", request.path, exception)
            message = "Redis, which queues jobs, is not answering; retry shortly."
        elif isinstance(exception, _database_errors()):
            logger.warning("503 for %s: the database is not answering (%s)", request.path, exception)
            message = "The database is not answering; retry shortly."
        else:
            return None
        return api_error_response(Unavailable("service_unavailable", message, retry_after=5))


class BodyRefusedMiddleware:
    """Answers a request whose body the ASGI handler refused unread (``config/asgi_limits.py``).

    It sits below the request id and security middleware, so the refusal has their headers, and above
    everything that could read the body.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        return _body_refused(request) or self.get_response(request)

    async def __acall__(self, request: HttpRequest):
        return _body_refused(request) or await self.get_response(request)


def _database_errors() -> tuple[type[Exception], ...]:
    """A connection refused or dropped (a restart, a failover), not a query's own error (IntegrityError...)."""
    from django.db import InterfaceError, OperationalError

    return (OperationalError, InterfaceError)


def _unavailable_errors() -> tuple[type[Exception], ...]:
    import redis
    from kombu.exceptions import OperationalError

    return (redis.ConnectionError, redis.TimeoutError, OperationalError)
