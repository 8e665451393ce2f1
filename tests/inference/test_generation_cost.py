"""Generation cost: one request's work is bounded, the bound is shown everywhere the kind is, batches keep a budget.

A request is counted as texts × the larger of num_beams and num_generations ×
max_length new tokens (what transformers' generate() runs, see
``inference/kinds/text_generation.py:generation_cost``); over
``GENERATION_MAX_TOKENS_PER_REQUEST`` it is a 400 naming the bound and the
request's cost, and no job is recorded.
"""

from __future__ import annotations

import html
from concurrent.futures import Future

import pytest
from django.test import Client

from api.errors import error_status
from inference.errors import ApiError
from inference.jobs import job_prepare
from inference.models import InferenceJob
from inference.runtime.batching import Batcher

pytestmark = pytest.mark.django_db

TEXTS = [f"Story number {i} began" for i in range(8)]
# The issue's request: 8 texts × 8 sequences × 512 new tokens = 32,768 new tokens.
HEAVY = {"text": TEXTS, "num_beams": 8, "num_generations": 8, "max_length": 512}


def _cost_error(response) -> dict:
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert "max_length" in error["fields"]
    return error


def test_the_issue_request_is_400_naming_the_bound_and_its_cost(api_client, tiny_models):
    response = api_client.post("/api/text-generation", {**HEAVY, "model": "tiny-gpt2"}, format="json")
    message = _cost_error(response)["message"]
    assert "8 texts × 8 sequences" in message and "512 new tokens = 32,768 new tokens" in message, message
    assert "16,384" in message and "GENERATION_MAX_TOKENS_PER_REQUEST" in message, message
    assert InferenceJob.objects.count() == 0


@pytest.mark.parametrize(("data", "cost"), [
    ({"text": TEXTS[:5], "num_beams": 8, "max_length": 512}, "20,480"),  # beams without sampling
    ({"text": TEXTS[:5], "num_generations": 8, "max_length": 512}, "20,480"),  # sampled generations
    ({"text": TEXTS[:5], "num_generations": 8, "do_sample": False, "max_length": 512}, "20,480"),  # greedy: beams
])
def test_beams_or_generations_times_texts_times_tokens_over_the_bound_is_400(api_client, tiny_models, data, cost):
    message = _cost_error(api_client.post("/api/text-generation", {**data, "model": "tiny-gpt2"},
                                          format="json"))["message"]
    assert f"= {cost} new tokens" in message and "16,384" in message, message
    assert InferenceJob.objects.count() == 0


@pytest.mark.parametrize("data", [
    # Backprop's tutorial request
    {"text": "Once upon a time", "min_length": 50, "max_length": 75, "temperature": 0.8, "top_p": 0.5},
    {"text": "Once upon a time"},  # the kind's example, the sandbox's defaults
    {"text": TEXTS, "max_length": 512},  # 4,096
    {"text": "Once upon a time", "num_beams": 8, "num_generations": 8, "max_length": 512},  # 4,096
    {"text": TEXTS[:4], "num_beams": 8, "num_generations": 8, "max_length": 512},  # 16,384: exactly the bound
])
def test_requests_within_the_bound_are_accepted(user, tiny_models, data):
    _, _, cleaned = job_prepare(user=user, kind_name="text-generation", model_id="tiny-gpt2", data=data)
    assert cleaned["max_length"] == data.get("max_length", 20)


def test_the_bound_is_the_setting(user, tiny_models, settings):
    settings.GENERATION_MAX_TOKENS_PER_REQUEST = 100
    ok = {"text": ["a", "b"], "max_length": 50}
    job_prepare(user=user, kind_name="text-generation", model_id="tiny-gpt2", data=ok)
    with pytest.raises(ApiError) as exc:
        job_prepare(user=user, kind_name="text-generation", model_id="tiny-gpt2",
                             data={**ok, "max_length": 51})
    assert error_status(exc.value) == 400 and exc.value.field == "max_length"
    assert "2 texts × 1 sequence" in exc.value.message and "= 102 new tokens" in exc.value.message
    assert "is 100 (GENERATION_MAX_TOKENS_PER_REQUEST)" in exc.value.message


# --- where the bound is shown -------------------------------------------------------------


def test_api_tasks_shows_the_generation_cost_bound(api_client, settings):
    settings.GENERATION_MAX_TOKENS_PER_REQUEST = 12_345
    tasks = {task["name"]: task for task in api_client.get("/api/tasks").json()["tasks"]}
    bound = tasks["text-generation"]["cost_bound"]
    assert bound["limit"] == 12_345 and bound["setting"] == "GENERATION_MAX_TOKENS_PER_REQUEST"
    assert bound["unit"] == "new tokens" and "max_length" in bound["formula"]
    assert "12,345 new tokens" in bound["description"]
    assert tasks["text-generation"]["request_schema"]["x-cost-bound"] == bound
    assert tasks["emotion"]["cost_bound"] is None
    one = api_client.get("/api/tasks/text-generation").json()
    assert one["cost_bound"] == bound


def test_the_openapi_request_schema_carries_the_bound(db):
    schema = Client().get("/api/schema", HTTP_ACCEPT="application/json").json()
    request = schema["components"]["schemas"]["TextGenerationRequest"]
    assert request["x-cost-bound"]["limit"] == 16_384
    assert "at most 16,384 new tokens" in request["description"]


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


@pytest.mark.parametrize("path", ["/sandbox/text-generation/", "/sandbox/text-generation/reference/"])
def test_the_sandbox_form_and_the_reference_show_the_bound(signed_in, settings, path):
    settings.GENERATION_MAX_TOKENS_PER_REQUEST = 9_000
    page = html.unescape(signed_in.get(path).content.decode())
    assert 'id="cost-bound"' in page
    assert ("One request may ask for at most 9,000 new tokens, counted as texts × the larger of num_beams and "
            "num_generations × max_length (setting GENERATION_MAX_TOKENS_PER_REQUEST).") in page


def test_kinds_without_a_bound_show_none(signed_in):
    for path in ("/sandbox/emotion/", "/sandbox/emotion/reference/"):
        assert 'id="cost-bound"' not in signed_in.get(path).content.decode()


# --- batches keep a token budget ----------------------------------------------------------


def _never_run(**_: object) -> None:
    raise AssertionError("these batches are only taken, never run")


def _batches(batcher: Batcher, count: int) -> list[list[str]]:
    return [[job_id for job_id, _ in batcher._take()] for _ in range(count)]


def test_a_batch_stops_at_the_token_budget_and_always_takes_one_job(settings):
    """The gathering rule (the worker passes each job's ``kind.request_cost``): queued jobs, taken in order."""
    settings.GENERATION_BATCH_TOKEN_BUDGET = 1000
    settings.BATCH_MAX_SIZE = 32
    # Its thread is not started: _take is called here.
    batcher = Batcher(("model", "text-generation", "key"), run_batch=_never_run, resend=_never_run)
    costs = {"a": 600, "b": 300, "c": 200, "d": 800, "e": 0, "f": 2500, "g": 50, "h": 950}
    for job_id, cost in costs.items():
        batcher.pending.put([(job_id, Future(), cost)])
    assert _batches(batcher, 4) == [["a", "b"], ["c", "d", "e"], ["f"], ["g", "h"]]
    assert batcher.pending.empty() and batcher.held == []


def test_the_jobs_of_one_message_are_taken_together_and_split_at_the_limits(settings):
    """A message carrying several jobs (one web process's submissions of a moment) is put whole: a batch
    never starts with part of it; the size and the token budget still cut it."""
    settings.GENERATION_BATCH_TOKEN_BUDGET = 1000
    settings.BATCH_MAX_SIZE = 3
    batcher = Batcher(("model", "text-generation", "key"), run_batch=_never_run, resend=_never_run)
    batcher.pending.put([(f"m{i}", Future(), 100) for i in range(5)])
    batcher.pending.put([("big", Future(), 950), ("after", Future(), 10)])
    assert _batches(batcher, 3) == [["m0", "m1", "m2"], ["m3", "m4"], ["big", "after"]]
    assert batcher.pending.empty() and batcher.held == []


def test_jobs_without_a_cost_are_bounded_by_count_only(settings):
    settings.GENERATION_BATCH_TOKEN_BUDGET = 10
    settings.BATCH_MAX_SIZE = 4
    batcher = Batcher(("model", "emotion", ""), run_batch=_never_run, resend=_never_run)
    for i in range(6):
        batcher.pending.put([(f"job {i}", Future(), 0)])
    assert _batches(batcher, 2) == [["job 0", "job 1", "job 2", "job 3"], ["job 4", "job 5"]]
    settings.GENERATION_BATCH_TOKEN_BUDGET = 0  # no budget
    for i in range(3):
        batcher.pending.put([(f"big {i}", Future(), 10_000)])
    assert _batches(batcher, 1) == [["big 0", "big 1", "big 2"]]


def test_more_sampled_generations_than_beams_is_400_not_a_failed_job(api_client, tiny_models):
    """Beam search returns its best num_generations beams: more than num_beams failed in the worker (422)."""
    response = api_client.post("/api/text-generation", {"text": "Once", "num_beams": 2, "num_generations": 4,
                                                         "model": "tiny-gpt2"}, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["fields"].keys() == {"num_generations"}
    assert "must not be more than num_beams (2)" in error["message"]
    assert InferenceJob.objects.count() == 0


@pytest.mark.parametrize("data", [{"do_sample": False}, {"temperature": 0}, {"num_beams": 4}])
def test_generations_and_beams_that_transformers_runs_are_accepted(user, tiny_models, data):
    body = {"text": "Once", "num_beams": 2, "num_generations": 4, **data}
    job_prepare(user=user, kind_name="text-generation", model_id="tiny-gpt2", data=body)
