"""Requests that reach a web process together are accepted together (``api.submissions``), through a live
server: each still gets its own job, its own result and its own refusal."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from dashboard.services import api_key_create
from inference.models import InferenceJob

pytestmark = pytest.mark.django_db(transaction=True)

CLIENTS = 16


def post_together(url: str, bodies: list[dict], headers: dict[str, str]) -> list[requests.Response]:
    """Each body from a thread of its own, released at the same moment."""
    ready = threading.Barrier(len(bodies))

    def one(body: dict) -> requests.Response:
        ready.wait()
        return requests.post(url, json=body, headers=headers, timeout=120)

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(one, bodies))


def test_concurrent_requests_each_get_their_own_result(live_api, celery_worker, user):
    key = api_key_create(user=user, name="together").plaintext
    prompts = [f"Prompt number {i} says" for i in range(CLIENTS)]
    bodies = [{"text": prompt, "model": "tiny-gpt2", "max_length": 2, "min_length": 1} for prompt in prompts]
    responses = post_together(f"{live_api.url}/api/text-generation", bodies,
                              {"x-api-key": key, "Prefer": "wait=60"})
    assert [r.status_code for r in responses] == [200] * CLIENTS, [r.text for r in responses if r.status_code != 200]
    for prompt, response in zip(prompts, responses, strict=True):
        assert response.json()["output"].startswith(prompt)
        job = InferenceJob.objects.get(id=response.headers["X-Job-Id"])
        assert job.input["text"] == prompt and job.owner == user
    # The requests were accepted in batches (one transaction stamps its jobs with one time): what is tested.
    stamps = list(InferenceJob.objects.filter(owner=user).values_list("enqueued_at", flat=True))
    assert len(set(stamps)) < len(stamps), "every request was accepted alone: nothing was batched"


def test_refusals_in_a_batch_are_each_requests_own(user, tiny_models):
    """Eight requests at once from one user whose cap is 3 jobs in flight: three accepted, three refused for
    the cap, the two invalid ones refused for their input (a broker no worker reads keeps jobs queued)."""
    from tests.api.conftest import LiveServer

    key = api_key_create(user=user, name="refusals").plaintext
    server = LiveServer(extra_env={"CELERY_BROKER_URL": "memory://", "API_MAX_JOBS_IN_FLIGHT": "3"},
                        name="uvicorn-refusals")
    try:
        bodies = [{"text": f"valid {i}", "model": "tiny-emotion"} for i in range(6)]
        bodies += [{"text": "", "model": "tiny-emotion"}, {"text": 42, "model": "tiny-emotion"}]
        responses = post_together(f"{server.url}/api/emotion", bodies,
                                  {"x-api-key": key, "Prefer": "respond-async"})
    finally:
        server.stop()
    statuses = [r.status_code for r in responses]
    assert sorted(statuses[:6]) == [202, 202, 202, 429, 429, 429], statuses
    assert all(r.json()["error"]["code"] == "too_many_jobs" for r in responses[:6] if r.status_code == 429)
    assert statuses[6:] == [400, 400]
    assert {r.json()["error"]["fields"] and next(iter(r.json()["error"]["fields"])) for r in responses[6:]} == {"text"}
    accepted = {r.json()["id"] for r in responses if r.status_code == 202}
    assert set(map(str, InferenceJob.objects.filter(owner=user).values_list("id", flat=True))) == accepted
