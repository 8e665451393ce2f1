"""Jobs through the API: the 202 fallback and polling, respond-async, listing, cancelling, other users' jobs."""

import json
import time

import pytest
from asgiref.sync import async_to_sync
from rest_framework.test import APIClient

from dashboard.services import api_key_create
from inference.models import InferenceJob, JobStatus

pytestmark = pytest.mark.django_db(transaction=True)

EMOTION = {"text": "What a lovely day", "model": "tiny-emotion"}


def _poll(client, url, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(url).json()
        if body["status"] in ("succeeded", "failed", "cancelled"):
            return body
        time.sleep(0.1)
    raise AssertionError(f"{url} did not finish: {body}")


def test_a_short_wait_falls_back_to_202_then_polling_gives_the_result(api_client, celery_worker):
    response = api_client.post("/api/emotion", EMOTION, format="json", HTTP_PREFER="wait=0.001")
    assert response.status_code == 202, response.content
    job = response.json()
    assert job["status"] in ("queued", "running")
    assert response["Location"] == job["url"] == f"/api/jobs/{job['id']}"
    assert response["Retry-After"]
    done = _poll(api_client, response["Location"])
    assert done["status"] == "succeeded"
    assert set(done["result"]) == {"emotion"}
    assert done["compute_ms"] is not None and done["queue_ms"] is not None
    assert done["input"] == {"text": "What a lovely day", "scores": False}


def test_respond_async_answers_202_at_once(api_client, tiny_models):
    started = time.monotonic()
    response = api_client.post("/api/emotion", EMOTION, format="json", HTTP_PREFER="respond-async")
    assert response.status_code == 202
    assert time.monotonic() - started < 5
    job = response.json()
    assert job["status"] == "queued" and response["Location"] == f"/api/jobs/{job['id']}"
    assert InferenceJob.objects.filter(id=job["id"]).exists()


def _row(user, kind="emotion", status=JobStatus.SUCCEEDED, key=None):
    return InferenceJob.objects.create(owner=user, api_key=key, task_kind=kind, model_id="tiny-emotion",
                                       input={"text": "x"}, status=status,
                                       output={"emotion": "joy"} if status == JobStatus.SUCCEEDED else None)


def test_job_list_is_paginated_and_filtered(api_client, user, other_user):
    for _ in range(3):
        _row(user)
    _row(user, kind="text-generation", status=JobStatus.FAILED)
    _row(user, status=JobStatus.QUEUED)
    _row(other_user)
    page = api_client.get("/api/jobs?limit=2&offset=0").json()
    assert page["count"] == 5 and len(page["results"]) == 2 and page["next"] and page["previous"] is None
    rest = api_client.get("/api/jobs?limit=2&offset=4").json()
    assert len(rest["results"]) == 1 and rest["next"] is None
    ids = [job["id"] for job in api_client.get("/api/jobs?limit=10").json()["results"]]
    created = [job["created_at"] for job in api_client.get("/api/jobs?limit=10").json()["results"]]
    assert len(set(ids)) == 5 and created == sorted(created, reverse=True)
    failed = api_client.get("/api/jobs?status=failed").json()
    assert failed["count"] == 1 and failed["results"][0]["task"] == "text-generation"
    assert api_client.get("/api/jobs?task=emotion").json()["count"] == 4
    assert api_client.get("/api/jobs?task=emotion&status=queued").json()["count"] == 1
    response = api_client.get("/api/jobs?status=nonsense")
    assert response.status_code == 400 and "status" in response.json()["error"]["fields"]


def test_cancel_a_queued_job(api_client, user):
    job = _row(user, status=JobStatus.QUEUED)
    response = api_client.post(f"/api/jobs/{job.id}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and job.cancel_requested
    again = api_client.post(f"/api/jobs/{job.id}/cancel")  # idempotent
    assert again.status_code == 200 and again.json()["status"] == "cancelled"


def test_a_finished_job_is_not_cancelled(api_client, user):
    job = _row(user)
    assert api_client.post(f"/api/jobs/{job.id}/cancel").json()["status"] == "succeeded"


def test_another_users_job_is_404(api_client, other_user):
    theirs = _row(other_user, status=JobStatus.QUEUED)
    for response in (api_client.get(f"/api/jobs/{theirs.id}"), api_client.post(f"/api/jobs/{theirs.id}/cancel")):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    theirs.refresh_from_db()
    assert theirs.status == JobStatus.QUEUED
    bob = APIClient()
    bob.credentials(HTTP_X_API_KEY=api_key_create(user=other_user, name="bob's").plaintext)
    assert bob.get(f"/api/jobs/{theirs.id}").status_code == 200


def test_unknown_job_is_404(api_client):
    response = api_client.get("/api/jobs/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def _events(response):
    """The async view's stream, read to its end (the test client hands back the async iterator)."""
    async def read():
        return [chunk async for chunk in response.streaming_content]

    raw = b"".join(async_to_sync(read)()).decode()
    events = []
    for block in raw.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


@pytest.mark.parametrize("how", ["body", "accept"])
def test_text_generation_streams_server_sent_events(api_client, celery_worker, how):
    payload = {"text": "Once upon a time", "min_length": 5, "max_length": 8, "model": "tiny-gpt2", "seed": 1}
    headers = {}
    if how == "body":
        payload["stream"] = True
    else:
        headers["HTTP_ACCEPT"] = "text/event-stream"
    response = api_client.post("/api/text-generation", payload, format="json", **headers)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/event-stream")
    assert response["Cache-Control"] == "no-cache"
    events = _events(response)
    names = [name for name, _ in events]
    assert names[0] == "job" and names[-1] == "done" and "text" in names, names
    assert events[0][1]["id"] == response["X-Job-Id"]
    done = events[-1][1]
    assert done["output"].startswith("Once upon a time")
    texts = [data for name, data in events if name == "text"]
    assert done["output"].startswith(texts[-1]["output"])
    assert InferenceJob.objects.get(id=response["X-Job-Id"]).status == JobStatus.SUCCEEDED
