"""Every body that does not parse is a 400 JSON error, never a 500 (no worker needed)."""

import uuid

import pytest

pytestmark = pytest.mark.django_db

DEEP = 100_000  # far past Python's recursion limit

UNPARSEABLE_JSON = {
    "deeply nested arrays": b"[" * DEEP,
    "deeply nested objects": b'{"a": ' * DEEP,
    "deeply nested and closed": b'{"text": ' + b"[" * DEEP + b"]" * DEEP + b"}",
    "a deep list under a field": b'{"text": "hi", "max_length": ' + b"[" * DEEP + b"1" + b"]" * DEEP + b"}",
    "nested just short of the limit": b'{"text": ' + b"[" * 500 + b"]" * 500 + b"}",
    "invalid UTF-8": b'{"text": "\xff\xfe\xfa"}',
    "a lone surrogate": b'{"text": "\\udc80 hi"',
    "NaN": b'{"text": "hi", "temperature": NaN}',
    "Infinity": b'{"text": "hi", "top_p": Infinity}',
    "-Infinity": b'{"text": "hi", "temperature": -Infinity}',
    "a list": b'[{"text": "hi"}]',
    "a string": b'"hi"',
    "null": b"null",
    "a number": b"7",
    "trailing garbage": b'{"text": "hi"} {"text": "again"}',
}


def _error(response, status: int = 400) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["error"]["status"] == status
    assert body["request_id"] == response["X-Request-Id"]
    return body["error"]


@pytest.mark.parametrize("label", UNPARSEABLE_JSON)
def test_a_task_endpoint_answers_400_json_to_a_body_that_does_not_parse(api_client, tiny_models, label):
    response = api_client.post("/api/text-generation", UNPARSEABLE_JSON[label], content_type="application/json",
                               HTTP_PREFER="respond-async")
    error = _error(response)
    assert error["code"] in ("malformed_json", "invalid"), error
    assert error["message"]


def test_deep_nesting_names_the_problem(api_client):
    response = api_client.post("/api/emotion", b"[" * DEEP, content_type="application/json")
    assert "nested too deeply" in _error(response)["message"]


@pytest.mark.parametrize(("field", "value"), [
    ("temperature", "NaN"),
    ("temperature", "Infinity"),
    ("max_length", "[" * DEEP),
], ids=["NaN", "Infinity", "deep"])
@pytest.mark.parametrize("encoding", ["multipart", "urlencoded"])
def test_a_form_field_that_does_not_parse_is_400_naming_it(api_client, tiny_models, field, value, encoding):
    data = {"text": "hi", "model": "tiny-gpt2", field: value}
    if encoding == "multipart":
        response = api_client.post("/api/text-generation", data, format="multipart", HTTP_PREFER="respond-async")
    else:
        from urllib.parse import urlencode

        response = api_client.post("/api/text-generation", urlencode(data),
                                   content_type="application/x-www-form-urlencoded", HTTP_PREFER="respond-async")
    error = _error(response)
    assert field in error["fields"], error


def test_a_multipart_body_without_a_boundary_is_400_json(api_client):
    response = api_client.post("/api/emotion", b"--x\r\n\r\nhi", content_type="multipart/form-data")
    _error(response)


@pytest.mark.parametrize("label", ["deeply nested arrays", "deeply nested objects", "invalid UTF-8", "NaN"])
def test_the_upload_endpoint_answers_400_json_to_json_that_does_not_parse(api_client, label):
    response = api_client.post("/api/models", UNPARSEABLE_JSON[label], content_type="application/json")
    assert _error(response)["code"] == "parse_error"


@pytest.mark.parametrize("label", ["deeply nested arrays", "deeply nested objects", "invalid UTF-8"])
def test_the_job_endpoints_never_answer_500_to_a_body(api_client, label):
    response = api_client.post(f"/api/jobs/{uuid.uuid4()}/cancel", UNPARSEABLE_JSON[label],
                               content_type="application/json")
    _error(response, 404)
