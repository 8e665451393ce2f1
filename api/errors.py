"""One JSON error shape for every 4xx and 5xx under ``/api/``.

    {"error": {"status": 400, "code": "invalid", "message": "...",
               "fields": {"text": ["..."]}}, "request_id": "..."}

``fields`` is present only for validation errors and names each bad field.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .authentication import INVALID_KEY_MESSAGE
from .middleware import current_request_id


def error_body(status_code: int, code: str, message: str, fields: dict[str, Any] | None = None) -> dict:
    body: dict[str, Any] = {"status": status_code, "code": code, "message": message}
    if fields:
        body["fields"] = fields
    return {"error": body, "request_id": current_request_id()}


def error_response(status_code: int, code: str, message: str, *, fields=None, headers=None) -> JsonResponse:
    response = JsonResponse(error_body(status_code, code, message, fields), status=status_code)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _flatten(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {str(k): _flatten(v) for k, v in detail.items()}
    if isinstance(detail, list):
        return [_flatten(v) for v in detail]
    return str(detail)


def _first_message(fields: dict[str, Any]) -> str:
    for name, problems in fields.items():
        while isinstance(problems, (list, dict)) and problems:
            problems = problems[0] if isinstance(problems, list) else next(iter(problems.values()))
        label = "input" if name == "non_field_errors" else name
        return f"{label}: {problems}"
    return "Invalid input."


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's handler, reshaped into the one error body."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a 500: Django's handler, reshaped by the middleware
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail) if isinstance(exc.detail, dict) else {"non_field_errors": _flatten(exc.detail)}
        response.data = error_body(response.status_code, "invalid", _first_message(fields), fields)
        response.status_code = status.HTTP_400_BAD_REQUEST
        return response
    if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
        # Missing, malformed, unknown, revoked and expired keys look alike.
        response.data = error_body(response.status_code, "invalid_api_key", INVALID_KEY_MESSAGE)
        return response
    code = getattr(exc, "default_code", "error")
    if isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        if isinstance(codes, str):
            code = codes
    detail = getattr(exc, "detail", str(exc))
    response.data = error_body(response.status_code, code, str(_flatten(detail)))
    return response
