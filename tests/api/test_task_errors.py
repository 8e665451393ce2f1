"""Every way a task request is refused, each with the one JSON error shape (no worker needed)."""

import struct
import time
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from inference.models import InferenceJob, JobStatus

from .conftest import data_uri

pytestmark = pytest.mark.django_db


def _error(response, status, code=None):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    assert response["X-Request-Id"]
    body = response.json()
    assert body["error"]["status"] == status
    assert body["request_id"] == response["X-Request-Id"]
    if code:
        assert body["error"]["code"] == code
    return body["error"]


def test_malformed_json_is_400(api_client):
    response = api_client.post("/api/emotion", '{"text": "unclosed', content_type="application/json")
    assert "not valid JSON" in _error(response, 400, "malformed_json")["message"]


def test_a_json_body_that_is_not_an_object_is_400(api_client):
    _error(api_client.post("/api/emotion", "[1, 2]", content_type="application/json"), 400, "invalid")


def test_empty_body_is_400(api_client):
    _error(api_client.post("/api/emotion", "", content_type="application/json"), 400, "invalid")


def test_unsupported_content_type_is_415(api_client):
    _error(api_client.post("/api/emotion", "text=hi", content_type="text/plain"), 415, "unsupported_media_type")


@pytest.mark.parametrize(("payload", "field", "words"), [
    ({"text": 5, "model": "tiny-emotion"}, "text", "must be a string"),
    ({"model": "tiny-emotion"}, "text", "required"),
    ({"text": "hi", "scores": "yes", "model": "tiny-emotion"}, "scores", "true or false"),
    ({"text": "hi", "model": 7}, "model", "must be a string"),
    ({"text": "hi", "colour": "red", "model": "tiny-emotion"}, "colour", "unknown field"),
])
def test_wrong_type_missing_or_unknown_field_is_400_naming_it(api_client, tiny_models, payload, field, words):
    error = _error(api_client.post("/api/emotion", payload, format="json"), 400, "invalid")
    assert field in error["fields"]
    assert error["message"].startswith(f"{field}:")
    assert words in error["message"]


@pytest.mark.parametrize(("payload", "field", "bound"), [
    ({"text": "hi", "max_length": 100000}, "max_length", "at most 512"),
    ({"text": "hi", "temperature": -1}, "temperature", "at least"),
    ({"text": "x" * 4001}, "text", "at most 4,000 characters"),
    ({"text": "hi", "num_generations": 99}, "num_generations", "at most 8"),
])
def test_out_of_bounds_is_400_naming_the_bound(api_client, tiny_models, payload, field, bound):
    response = api_client.post("/api/text-generation", {**payload, "model": "tiny-gpt2"}, format="json")
    error = _error(response, 400, "invalid")
    assert field in error["fields"]
    assert bound in error["message"]


def test_a_model_that_does_not_serve_the_kind_is_400(api_client, tiny_models):
    error = _error(api_client.post("/api/emotion", {"text": "hi", "model": "tiny-gpt2"}, format="json"), 400)
    assert "tiny-gpt2" in error["message"] and "model" in error["fields"]


def test_body_over_the_limit_is_413_json(api_client, settings):
    settings.API_MAX_BODY_BYTES = 100
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = api_client.post("/api/emotion", {"text": "x" * 500}, format="json")
    assert "limit is 100" in _error(response, 413, "payload_too_large")["message"]
    upload = {"image": SimpleUploadedFile("big.png", b"\x89PNG" + b"0" * 500, content_type="image/png")}
    _error(api_client.post("/api/image-vectorisation", upload, format="multipart"), 413, "payload_too_large")


def test_unknown_model_is_404_naming_it(api_client):
    error = _error(api_client.post("/api/emotion", {"text": "hi", "model": "no-such-model"}, format="json"), 404,
                   "unknown_model")
    assert "no-such-model" in error["message"]


def test_hub_model_not_installed_is_409_with_the_install_command(api_client):
    response = api_client.post("/api/text-generation", {"text": "hi", "model": "gpt2-large"}, format="json")
    error = _error(response, 409, "model_not_installed")
    assert "gpt2-large" in error["message"] and "models pull" in error["message"]


@pytest.mark.parametrize("method", ["get", "post", "delete"])
def test_unknown_path_under_api_is_json_404(api_client, method):
    response = getattr(api_client, method)("/api/no/such/endpoint")
    assert "/api/no/such/endpoint" in _error(response, 404, "not_found")["message"]


def test_get_on_a_task_endpoint_is_405(api_client):
    response = api_client.get("/api/emotion")
    _error(response, 405, "method_not_allowed")
    assert response["Allow"] == "POST"


def test_no_key_is_401(tiny_models):
    from rest_framework.test import APIClient

    response = APIClient().post("/api/emotion", {"text": "hi", "model": "tiny-emotion"}, format="json")
    _error(response, 401, "invalid_api_key")
    assert "x-api-key" in response["WWW-Authenticate"]


def test_queue_full_is_503_with_retry_after(api_client, tiny_models, settings):
    settings.API_MAX_QUEUED_PER_MODEL = 0
    response = api_client.post("/api/emotion", {"text": "hi", "model": "tiny-emotion"}, format="json")
    assert "tiny-emotion" in _error(response, 503, "queue_full")["message"]
    assert int(response["Retry-After"]) > 0


def test_rate_limit_is_429_with_retry_after(api_client, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 3
    statuses = [api_client.post("/api/emotion", "{bad", content_type="application/json").status_code
                for _ in range(4)]
    if statuses[:3] != [400, 400, 400]:  # a minute boundary fell in between: one more try
        statuses = [api_client.post("/api/emotion", "{bad", content_type="application/json").status_code
                    for _ in range(4)]
    response = api_client.post("/api/emotion", "{bad", content_type="application/json")
    assert statuses[:3] == [400, 400, 400] and statuses[3] == 429
    _error(response, 429, "rate_limited")
    assert 1 <= int(response["Retry-After"]) <= 61


def test_jobs_in_flight_cap_is_429(api_client, user, tiny_models, settings):
    settings.API_MAX_JOBS_IN_FLIGHT = 1
    InferenceJob.objects.create(owner=user, task_kind="emotion", model_id="tiny-emotion", input={"text": "x"},
                                status=JobStatus.QUEUED)
    response = api_client.post("/api/emotion", {"text": "hi", "model": "tiny-emotion"}, format="json")
    assert "at once is 1" in _error(response, 429, "too_many_jobs")["message"]
    assert response["Retry-After"]


def test_spent_monthly_allowance_is_429(api_client, user, tiny_models, settings):
    settings.MONTHLY_COMPUTE_SECONDS = 1
    InferenceJob.objects.create(owner=user, task_kind="emotion", model_id="tiny-emotion", input={"text": "x"},
                                status=JobStatus.SUCCEEDED, compute_ms=2000, finished_at=timezone.now())
    response = api_client.post("/api/emotion", {"text": "hi", "model": "tiny-emotion"}, format="json")
    assert "allowance" in _error(response, 429, "allowance_spent")["message"]
    assert int(response["Retry-After"]) > 0


def test_allowance_summed_within_the_cache_window_refuses_without_summing_again(api_client, user, tiny_models,
                                                                              settings):
    """The month's sum cached in Redis (read in the rate limit's round trip) refuses, though the rows alone
    would not: the window ``ALLOWANCE_CACHE_S`` promises; once it expires, the rows decide again."""
    from api.limits import _allowance_key
    from inference.jobs import events

    settings.MONTHLY_COMPUTE_SECONDS = 100
    key = _allowance_key(user)
    events.redis_client().set(key, 150.0, ex=30)
    try:
        response = api_client.post("/api/emotion", {"text": "hi", "model": "tiny-emotion"}, format="json")
        assert "150.0 s used" in _error(response, 429, "allowance_spent")["message"]
        events.redis_client().delete(key)
        response = api_client.post("/api/emotion", {"text": "hi", "model": "tiny-emotion"},
                                   format="json", HTTP_PREFER="respond-async")
        assert response.status_code == 202, response.content
    finally:
        events.redis_client().delete(key)


def _png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid PNG header declaring 10 gigapixels, with almost no data: refused from the header alone."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 1024)) + \
        chunk(b"IEND", b"")


def test_a_decompression_bomb_is_refused_quickly(api_client, tiny_models):
    bomb = _png_bomb()
    started = time.monotonic()
    response = api_client.post("/api/image-vectorisation", {"image": data_uri(bomb), "model": "tiny-clip"},
                               format="json")
    error = _error(response, 400, "invalid")
    assert "image" in error["fields"] and "pixels" in error["message"]
    upload = {"image": SimpleUploadedFile("bomb.png", bomb, content_type="image/png"), "model": "tiny-clip"}
    response = api_client.post("/api/image-vectorisation", upload, format="multipart")
    assert "pixels" in _error(response, 400, "invalid")["message"]
    assert time.monotonic() - started < 5
    assert not InferenceJob.objects.exists()
