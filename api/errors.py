"""Every error the API answers: the list of codes, their HTTP status, and the one JSON error shape.

    {"error": {"status": 400, "code": "invalid", "message": "...",
               "fields": {"text": ["..."]}}, "request_id": "..."}

``fields`` is present only for validation errors and names each bad field.

Services raise ``inference.errors.ApiError`` (a code, a message, a category);
this module alone turns one into a status and a body: ``exception_handler``
for DRF's views, ``api_error_response`` for everything outside them (the
middleware, the catch-all 404, a job that ended badly). ``ERROR_CODES`` lists
every code with its status and meaning; the OpenAPI document
(``api/openapi.py``) and the reference pages (``sandbox/views.py``) are made
from it, and ``tests/api/test_error_codes.py`` checks that every code raised
anywhere is in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import Http404, JsonResponse
from rest_framework import exceptions
from rest_framework.views import exception_handler as drf_exception_handler

from inference.errors import ApiError, Unauthenticated

from .authentication import AUTHENTICATE_HEADER, INVALID_KEY_MESSAGE
from .request_id import current_path, current_request_id

# The HTTP status of each category of ``ApiError``.
CATEGORY_STATUS: dict[str, int] = {
    "invalid": 400,
    "unauthenticated": 401,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "too_large": 413,
    "unsupported_media_type": 415,
    "failed": 422,
    "limited": 429,
    "unavailable": 503,
}


@dataclass(frozen=True)
class ErrorCode:
    code: str
    status: int
    description: str
    task: bool = True  # answered by the task endpoints (POST /api/<task kind>): on their reference pages


ERROR_CODES: tuple[ErrorCode, ...] = (
    ErrorCode("invalid", 400, "An input breaks the declaration: a missing field, a value out of bounds, an unknown "
                              "field, or a request over the kind's cost bound. fields names the bad input."),
    ErrorCode("malformed_json", 400, "The body is not valid JSON."),
    ErrorCode("unsupported_parameter", 400, "/v1: a parameter of OpenAI's API that this platform cannot honour "
                                            "(tools, logprobs, images in chat, ...); param names it.", task=False),
    ErrorCode("model_not_supported", 400, "/v1: the model does not serve that endpoint (GET /v1/models says "
                                          "which endpoints each model serves).", task=False),
    ErrorCode("bad_request", 400, "A request Django could not read (a malformed multipart body, a bad Host).",
              task=False),
    ErrorCode("parse_error", 400, "A DRF endpoint could not parse the body.", task=False),
    ErrorCode("invalid_api_key", 401, "The x-api-key header is missing, unknown, revoked or expired."),
    ErrorCode("csrf_failed", 403, "The sandbox's browser session sent no valid CSRF token (X-CSRFToken header)."),
    ErrorCode("storage_quota_exceeded", 403, "An upload does not fit in the account's storage quota; delete a "
                                             "model to make room.", task=False),
    ErrorCode("permission_denied", 403, "Not allowed (on the jobs and models endpoints: a browser session "
                                        "without a CSRF token).", task=False),
    ErrorCode("forbidden", 403, "Refused before any view ran.", task=False),
    ErrorCode("unknown_model", 404, "No model with that id (or another user's model)."),
    ErrorCode("unknown_task_kind", 404, "No task kind of that name (GET /api/tasks lists them).", task=False),
    ErrorCode("not_found", 404, "No API endpoint at that path, or no job or model of yours with that id.",
              task=False),
    ErrorCode("method_not_allowed", 405, "The endpoint does not answer that method (task endpoints take POST)."),
    ErrorCode("not_acceptable", 406, "The Accept header asks for a format the endpoint cannot answer in.",
              task=False),
    ErrorCode("model_not_installed", 409, "The model is in the catalog but not installed on this server; the "
                                          "message says how to install it."),
    ErrorCode("job_cancelled", 409, "The job was cancelled while the request waited for it."),
    ErrorCode("payload_too_large", 413, "The body (or an image, or an uploaded model) is too large."),
    ErrorCode("unsupported_media_type", 415, "Send application/json or multipart/form-data."),
    ErrorCode("job_failed", 422, "The model could not run on this input; message says why."),
    ErrorCode("rate_limited", 429, "Too many requests a minute; retry after the Retry-After header's seconds."),
    ErrorCode("too_many_jobs", 429, "Too many of your jobs are queued or running at once."),
    ErrorCode("allowance_spent", 429, "The monthly allowance of compute seconds is spent."),
    ErrorCode("server_error", 500, "An error on the server; the request id identifies it in the logs.", task=False),
    ErrorCode("job_timeout", 503, "/v1: the job did not finish within the hard time limit; it can be fetched "
                                  "from /api/jobs/<id>.", task=False),
    ErrorCode("queue_full", 503, "The model's queue is full; retry later (see Retry-After)."),
    ErrorCode("service_unavailable", 503, "Redis, which queues jobs, is not answering; retry shortly "
                                          "(see Retry-After)."),
)
ERRORS_BY_CODE: dict[str, ErrorCode] = {error.code: error for error in ERROR_CODES}

# Django's own error pages under /api/ (a 404 from the URL conf, a 413 from the body limit, a 500)
# become the error body with these codes.
STATUS_CODES: dict[int, str] = {400: "bad_request", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
                                413: "payload_too_large", 500: "server_error", 503: "service_unavailable"}


# The paths that answer errors as JSON: Backprop's API, and OpenAI's under /v1 (api/openai).
API_PATH_PREFIXES = ("/api/", "/v1/")
OPENAI_PATH_PREFIX = "/v1/"

# OpenAI's error ``type`` for each status (its SDK raises by status; the type is what its docs name).
OPENAI_ERROR_TYPES: dict[int, str] = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error",
                                      500: "server_error", 503: "service_unavailable"}


def is_api_path(path: str) -> bool:
    return path.startswith(API_PATH_PREFIXES)


def task_errors() -> list[ErrorCode]:
    """The errors a task endpoint may answer, by status."""
    return sorted((error for error in ERROR_CODES if error.task), key=lambda error: error.status)


def error_status(exc: ApiError) -> int:
    return CATEGORY_STATUS[exc.category]


def error_body(status: int, code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    """The one error body; under /v1 in OpenAI's shape (``{"error": {"message", "type", "param", "code"}}``)."""
    if current_path().startswith(OPENAI_PATH_PREFIX):
        kind = "insufficient_quota" if code == "allowance_spent" else OPENAI_ERROR_TYPES.get(
            status, "invalid_request_error" if status < 500 else "server_error")
        return {"error": {"message": message, "type": kind, "param": next(iter(fields), None) if fields else None,
                          "code": code}}
    body: dict[str, Any] = {"status": status, "code": code, "message": message}
    if fields:
        body["fields"] = fields
    return {"error": body, "request_id": current_request_id()}


def error_headers(exc: ApiError) -> dict[str, str]:
    headers = {}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = AUTHENTICATE_HEADER
    return headers


def error_response(status: int, code: str, message: str, *, fields: dict[str, Any] | None = None,
                   headers: dict[str, str] | None = None) -> JsonResponse:
    response = JsonResponse(error_body(status, code, message, fields), status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def api_error_response(exc: ApiError) -> JsonResponse:
    """The response to an ``ApiError``, inside DRF's views or outside them."""
    return error_response(error_status(exc), exc.code, exc.message, fields=exc.details, headers=error_headers(exc))


def status_error_response(status: int, message: str) -> JsonResponse:
    """An error known only by its status (Django's own error pages under /api/)."""
    return error_response(status, STATUS_CODES.get(status, "error"), message)


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


def exception_handler(exc: Exception, context: dict) -> JsonResponse | None:
    """DRF's exception handler: an ``ApiError`` or any of DRF's own exceptions, as the one error body."""
    if isinstance(exc, ApiError):
        return api_error_response(exc)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    drf_response = drf_exception_handler(exc, context)  # DRF's status and headers (WWW-Authenticate, Retry-After)
    if drf_response is None:
        return None  # a 500: Django's handler, reshaped by the middleware
    status = drf_response.status_code
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail) if isinstance(exc.detail, dict) else {"non_field_errors": _flatten(exc.detail)}
        response = error_response(400, "invalid", _first_message(fields), fields=fields)
    elif isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
        # Missing, malformed, unknown, revoked and expired keys look alike.
        response = error_response(status, "invalid_api_key", INVALID_KEY_MESSAGE)
    else:
        code = getattr(exc, "default_code", "error")
        if isinstance(exc, exceptions.APIException):
            codes = exc.get_codes()
            if isinstance(codes, str):
                code = codes
        response = error_response(status, code, str(_flatten(getattr(exc, "detail", str(exc)))))
    for name, value in drf_response.headers.items():
        if name.lower() != "content-type":
            response[name] = value
    if isinstance(exc, exceptions.MethodNotAllowed) and context.get("view") is not None:
        response["Allow"] = ", ".join(context["view"].allowed_methods)
    return response
