"""One list of error codes (``api.errors.ERROR_CODES``): every code raised is in it, with the status it is
answered with, and the OpenAPI document and the reference pages show it."""

from __future__ import annotations

import ast
import html
import inspect
from pathlib import Path

import pytest
from django.test import Client
from rest_framework import exceptions

import inference.errors
from api.errors import CATEGORY_STATUS, ERROR_CODES, ERRORS_BY_CODE, STATUS_CODES, task_errors
from inference.errors import ApiError
from inference.registry import public_kinds

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ["api", "config", "dashboard", "inference", "sandbox"]
ERROR_CLASSES = {name: cls for name, cls in vars(inference.errors).items()
                 if inspect.isclass(cls) and issubclass(cls, ApiError)}


def raised_codes() -> list[tuple[str, int, str]]:
    """(code, status, where) for every ``SomeError("code", ...)`` or ``SomeError.for_field("code", ...)``, and every
    ``error_response(status, "code", ...)``, in the project's source."""
    found = []
    for folder in SOURCES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if not isinstance(node, ast.Call) or not node.args:
                    continue
                func = node.func
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                if isinstance(func, ast.Name) and func.id == "error_response" and len(node.args) > 1:
                    status, code = node.args[0], node.args[1]
                    if isinstance(status, ast.Constant) and isinstance(code, ast.Constant):
                        found.append((code.value, status.value, where))
                    continue
                if isinstance(func, ast.Attribute) and func.attr == "for_field":
                    func = func.value
                if not (isinstance(func, ast.Name) and func.id in ERROR_CLASSES):
                    continue
                first = node.args[0]
                assert isinstance(first, ast.Constant) and isinstance(first.value, str), (
                    f"{where}: an error's code is a literal, so it can be listed")
                found.append((first.value, CATEGORY_STATUS[ERROR_CLASSES[func.id].category], where))
    return found


def test_every_code_raised_is_listed_with_the_status_it_gets():
    found = raised_codes()
    assert len({code for code, _, _ in found}) >= 15  # the scan sees the services, the API and the ASGI handler
    assert "not_found" in {code for code, _, _ in found}  # error_response(404, "not_found", ...) in api/views.py
    for code, status, where in found:
        assert code in ERRORS_BY_CODE, f"{where}: {code!r} is not in api.errors.ERROR_CODES"
        assert ERRORS_BY_CODE[code].status == status, f"{where}: {code!r} is answered {status}"


def test_the_codes_of_django_and_drf_errors_are_listed_too():
    for status, code in STATUS_CODES.items():
        assert ERRORS_BY_CODE[code].status == status
    for drf_error in (exceptions.ParseError, exceptions.PermissionDenied, exceptions.NotFound,
                      exceptions.MethodNotAllowed, exceptions.NotAcceptable, exceptions.UnsupportedMediaType):
        assert ERRORS_BY_CODE[drf_error.default_code].status == drf_error.status_code
    assert ERRORS_BY_CODE["invalid"].status == exceptions.ValidationError.status_code
    assert ERRORS_BY_CODE["invalid_api_key"].status == exceptions.NotAuthenticated.status_code
    assert len(ERRORS_BY_CODE) == len(ERROR_CODES), "a code is listed twice"


@pytest.mark.django_db
def test_the_openapi_document_lists_every_code_and_each_task_error():
    schema = Client().get("/api/schema", HTTP_ACCEPT="application/json").json()
    code_schema = schema["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]
    assert code_schema["enum"] == [error.code for error in ERROR_CODES]
    for error in ERROR_CODES:
        assert f"`{error.code}` ({error.status})" in code_schema["description"]
    for kind in public_kinds():
        responses = schema["paths"][f"/api/{kind.name}"]["post"]["responses"]
        for error in task_errors():
            assert f"`{error.code}`" in responses[str(error.status)]["description"], (kind.name, error.code)


@pytest.mark.django_db
def test_the_reference_page_lists_each_task_error(client, user):
    client.force_login(user)
    page = html.unescape(client.get("/sandbox/emotion/reference/").content.decode())
    for code in ("job_cancelled", "csrf_failed", "rate_limited", "queue_full", "method_not_allowed"):
        assert f"<code>{code}</code>" in page
    for error in task_errors():
        assert f"<td>{error.status}</td><td><code>{error.code}</code></td><td>{error.description}</td>" in page
    assert "<code>storage_quota_exceeded</code>" not in page  # an upload's error, not a task endpoint's


@pytest.mark.django_db
def test_the_sandbox_session_needs_its_csrf_token(user, tiny_models):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    refused = browser.post("/api/emotion", {"text": "hi", "model": "tiny-emotion"}, content_type="application/json")
    assert refused.status_code == 403
    assert refused.json()["error"] == {"status": 403, "code": "csrf_failed",
                                       "message": "The sandbox session needs a CSRF token (X-CSRFToken header)."}
    browser.get("/sandbox/emotion/")  # sets the CSRF cookie, as the page does for its script
    token = browser.cookies["csrftoken"].value
    accepted = browser.post("/api/emotion", {"text": "hi", "model": "tiny-emotion"}, content_type="application/json",
                            HTTP_X_CSRFTOKEN=token, HTTP_PREFER="respond-async")
    assert accepted.status_code == 202, accepted.content
    assert accepted.json()["task"] == "emotion" and accepted["Location"] == accepted.json()["url"]
