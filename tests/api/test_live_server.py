"""Real HTTP against a live ASGI server (uvicorn) with a real key: Backprop's seed calls, streaming, Schemathesis.

The server is a subprocess on the test database, so the ``settings`` fixture
does not reach it; rows it must see are committed (``transaction=True``).
"""

from __future__ import annotations

import os
import time

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings

from dashboard.services import api_key_create
from inference.kinds.text_generation import MAX_NEW_TOKENS
from inference.models import JobStatus
from tests.conftest import wait_for_job

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def live_key(user):
    return api_key_create(user=user, name="live key").plaintext


def _backprop_call(base_url: str, key: str, task: str, body: dict) -> requests.Response:
    """As Backprop's tutorial calls it, with a wait long enough for a CPU (else a 202 to poll)."""
    headers = {"x-api-key": key, "content-type": "application/json", "Prefer": "wait=120"}
    response = requests.post(f"{base_url}/api/{task}", json=body, headers=headers, timeout=150)
    if response.status_code == 409:
        pytest.skip(f"the default model is not installed here: {response.json()['error']['message']}")
    if response.status_code == 202:  # still running after the wait: poll its Location
        location = f"{base_url}{response.headers['Location']}"
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            job = requests.get(location, headers={"x-api-key": key}, timeout=10).json()
            if job["status"] not in ("queued", "running"):
                assert job["status"] == "succeeded", job
                return job["result"]
            time.sleep(1)
        raise AssertionError(f"{location} did not finish")
    assert response.status_code == 200, response.text
    assert response.headers["X-Request-Id"] and response.headers["X-Compute-Ms"]
    return response.json()


@pytest.mark.bundled
def test_backprop_seed_call_emotion(live_api, celery_worker, live_key):
    result = _backprop_call(live_api.url, live_key, "emotion", {"text": "The service was awful, and so was the food."})
    assert set(result) == {"emotion"}
    assert isinstance(result["emotion"], str) and result["emotion"]


@pytest.mark.bundled
def test_backprop_seed_call_text_generation(live_api, celery_worker, live_key):
    body = {"text": "Once upon a time", "min_length": 50, "max_length": 75, "temperature": 0.8, "top_p": 0.5}
    result = _backprop_call(live_api.url, live_key, "text-generation", body)
    assert set(result) == {"output"}
    assert result["output"].startswith("Once upon a time")
    assert len(result["output"]) > len("Once upon a time") + 50


def test_closing_a_stream_cancels_the_job(live_api, celery_worker, live_key):
    # The most new tokens a job may ask for: the generation runs far longer than the cancel takes.
    body = {"text": "Once upon a time", "min_length": MAX_NEW_TOKENS, "max_length": MAX_NEW_TOKENS,
            "model": "tiny-gpt2", "stream": True}
    response = requests.post(f"{live_api.url}/api/text-generation", json=body, stream=True, timeout=60,
                             headers={"x-api-key": live_key, "content-type": "application/json"})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    job_id = response.headers["X-Job-Id"]
    seen = []
    for line in response.iter_lines():
        if line.startswith(b"event: "):
            seen.append(line[7:].decode())
            if seen[-1] in ("text", "done", "error"):
                break
    response.close()  # the client goes away after the first text
    assert seen[0] == "job" and seen[-1] == "text", seen
    job = wait_for_job(job_id, timeout=30)
    assert job.status == JobStatus.CANCELLED
    assert job.cancel_requested


# --- Schemathesis over GET /api/schema --------------------------------------------------------------------------

def _hypothesis_jsonschema_compat() -> None:
    """hypothesis-jsonschema 0.23 calls ``many.more()``, which newer Hypothesis replaced by iterating ``many``.

    Give its own reference to Hypothesis' ``many`` a ``more()`` built on the new protocol (tests only;
    drop this once hypothesis-jsonschema follows).
    """
    import types

    from hypothesis.internal.conjecture import utils as cu
    from hypothesis_jsonschema import _from_schema

    if hasattr(cu.many, "more") or getattr(_from_schema.cu, "_compat", False):
        return

    class Many(cu.many):
        def more(self) -> bool:
            if not hasattr(self, "_compat_iter"):
                self.__enter__()
                self._compat_iter = iter(self)
            try:
                next(self._compat_iter)
                return True
            except StopIteration:
                self.__exit__(None)
                return False

    compat = types.ModuleType(cu.__name__)
    compat.__dict__.update(cu.__dict__)
    compat.many = Many
    compat._compat = True
    _from_schema.cu = compat


_hypothesis_jsonschema_compat()

@pytest.fixture
def api_schema(live_api_without_workers):
    """The schema the server serves; its jobs stay queued (no worker), so no call waits or loads a model."""
    url = live_api_without_workers.url
    schema = schemathesis.from_uri(f"{url}/api/schema", base_url=url)
    # Adding and deleting catalog models changes the server for every other test: not fuzzed here.
    # OpenAI's endpoints wait for their job (OpenAI's API has no 202) and no worker runs here: their requests
    # and errors are tested with the openai package (tests/api/test_openai_compat.py).
    return (schema.exclude(method=["POST", "DELETE", "PUT", "PATCH"], path_regex=r"^/api/models")
            .exclude(method="POST", path_regex=r"^/v1/"))


schema = schemathesis.from_pytest_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "10")), deadline=None,
          suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case, live_key):
    case.headers = {**(case.headers or {}), "x-api-key": live_key}
    if case.method == "POST" and case.path.startswith("/api/") and case.operation.definition.raw.get(
            "operationId", "").startswith("task_"):
        case.headers["Prefer"] = "respond-async"  # no worker needed, no waiting
        if isinstance(case.body, dict) and case.body.get("stream"):
            case.body["stream"] = False  # a stream waits for the job (no worker here); tested above
    case.call_and_validate(timeout=30, checks=(schemathesis.checks.not_a_server_error,
                                               schemathesis.checks.response_schema_conformance))
