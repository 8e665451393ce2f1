"""Many requests at once on a live ASGI server: each gets its own job's answer."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from dashboard.services import api_key_create
from inference.models import InferenceJob

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def live_key(user):
    return api_key_create(user=user, name="live key").plaintext


def test_concurrent_requests_each_get_their_own_jobs_answer(live_api, celery_worker, live_key):
    """24 requests at once share the server's one pub/sub connection; no answer goes to the wrong caller.

    It found a race: validation on pool threads imported ``transformers`` twice at once (ImportError, 500).
    """
    prompts = [f"Request number {i} says" for i in range(24)]

    def call(prompt: str) -> requests.Response:
        body = {"text": prompt, "model": "tiny-gpt2", "min_length": 3, "max_length": 4, "do_sample": False}
        return requests.post(f"{live_api.url}/api/text-generation", json=body, timeout=120,
                             headers={"x-api-key": live_key, "Prefer": "wait=100"})

    with ThreadPoolExecutor(len(prompts)) as pool:
        responses = list(pool.map(call, prompts))
    for prompt, response in zip(prompts, responses, strict=True):
        assert response.status_code == 200, response.text
        assert response.json()["output"].startswith(prompt)
        job = InferenceJob.objects.get(id=response.headers["X-Job-Id"])
        assert job.input["text"] == prompt and job.output == response.json()
