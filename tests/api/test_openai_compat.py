"""The OpenAI-compatible API under /v1, called with the official ``openai`` package against a live server.

Every call is a job like any other (same keys, limits, usage and jobs list); the answers have the shapes the
SDK parses, and its errors map to the SDK's exception types.
"""

from __future__ import annotations

import base64
import struct

import openai
import pytest
import requests
from transformers import AutoTokenizer

from dashboard.services import api_key_create
from inference.models import InferenceJob, JobStatus

pytestmark = pytest.mark.django_db(transaction=True)

MESSAGES = [{"role": "system", "content": "You answer in one word."}, {"role": "user", "content": "Once upon a time"}]


@pytest.fixture
def key(user):
    return api_key_create(user=user, name="openai sdk").plaintext


@pytest.fixture
def client(live_api, key):
    return openai.OpenAI(base_url=f"{live_api.url}/v1", api_key=key, max_retries=0, timeout=120)


def job_of(response_id: str) -> InferenceJob:
    return InferenceJob.objects.get(id=response_id.split("-", 1)[1])


def test_models_lists_the_catalog_in_openai_shape(client):
    models = {model.id: model for model in client.models.list()}
    smollm = models["smollm2-135m-instruct"]
    assert smollm.object == "model" and smollm.owned_by and isinstance(smollm.created, int)
    assert "/v1/chat/completions" in smollm.model_extra["endpoints"]
    assert "/v1/embeddings" in models["all-minilm-l6-v2"].model_extra["endpoints"]
    assert "/v1/chat/completions" in models["tiny-chat"].model_extra["endpoints"]
    assert client.models.retrieve("tiny-chat").id == "tiny-chat"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")


def test_chat_completion_is_a_chat_job_with_the_tokenizers_counts(client, celery_worker, user, tiny_models):
    completion = client.chat.completions.create(model="tiny-chat", messages=MESSAGES, max_tokens=5, n=2,
                                                temperature=1.0, seed=3)
    assert completion.object == "chat.completion" and completion.model == "tiny-chat"
    assert [choice.index for choice in completion.choices] == [0, 1]
    for choice in completion.choices:
        assert choice.message.role == "assistant" and isinstance(choice.message.content, str)
        assert choice.finish_reason in ("stop", "length")
    tokenizer = AutoTokenizer.from_pretrained(tiny_models["tiny-chat"]["path"])
    prompt = tokenizer.apply_chat_template(MESSAGES, tokenize=False, add_generation_prompt=True)
    assert completion.usage.prompt_tokens == len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    assert 2 <= completion.usage.completion_tokens <= 10
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    job = job_of(completion.id)
    assert (job.owner, job.task_kind, job.status) == (user, "chat", JobStatus.SUCCEEDED)
    assert job.completion_tokens == completion.usage.completion_tokens


def test_chat_accepts_text_parts_and_max_completion_tokens(client, celery_worker):
    parts = [{"type": "text", "text": "Once upon"}, {"type": "text", "text": "a time"}]
    messages = [{"role": "user", "content": parts}]
    completion = client.chat.completions.create(model="tiny-chat", messages=messages, max_completion_tokens=1,
                                                temperature=0)
    assert completion.usage.completion_tokens == 1
    assert job_of(completion.id).input["messages"] == [{"role": "user", "content": "Once upon\na time"}]


def test_a_streamed_chat_sends_deltas_a_finish_reason_usage_and_done(client, celery_worker, live_api, key):
    asked = {"model": "tiny-chat", "messages": MESSAGES, "max_tokens": 12, "temperature": 1.0, "seed": 5}
    whole = client.chat.completions.create(**asked)
    chunks = list(client.chat.completions.create(**asked, stream=True, stream_options={"include_usage": True}))
    assert all(chunk.object == "chat.completion.chunk" for chunk in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text.strip() == whole.choices[0].message.content
    finished = [chunk.choices[0].finish_reason for chunk in chunks if chunk.choices and chunk.choices[0].finish_reason]
    assert finished == [whole.choices[0].finish_reason]
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == whole.usage.total_tokens
    # the wire format ends as OpenAI's does
    raw = requests.post(f"{live_api.url}/v1/chat/completions", json={**asked, "stream": True}, timeout=120,
                        headers={"Authorization": f"Bearer {key}"})
    assert raw.headers["Content-Type"].startswith("text/event-stream")
    assert raw.text.rstrip().endswith("data: [DONE]")


def test_completions_return_new_text_per_prompt(client, celery_worker):
    prompts = ["Once upon a time", "The weather today"]
    completion = client.completions.create(model="tiny-gpt2", prompt=prompts, max_tokens=4, temperature=0)
    assert completion.object == "text_completion"
    assert len(completion.choices) == 2
    for choice in completion.choices:
        assert not choice.text.startswith("Once upon a time")
        assert choice.finish_reason in ("stop", "length")
    job = job_of(completion.id)
    assert job.task_kind == "text-generation"
    assert completion.usage.completion_tokens == job.completion_tokens <= 8


def test_embeddings_in_float_and_in_the_sdks_default_base64(client, celery_worker, live_api, key):
    texts = ["A cat sat on the mat.", "Stocks fell sharply."]
    as_base64 = client.embeddings.create(model="tiny-encoder", input=texts)  # the SDK asks for base64
    as_float = client.embeddings.create(model="tiny-encoder", input=texts, encoding_format="float")
    assert [item.index for item in as_float.data] == [0, 1]
    for a, b in zip(as_base64.data, as_float.data, strict=True):
        assert a.embedding == pytest.approx(b.embedding, abs=1e-6)
    backprop = requests.post(f"{live_api.url}/api/text-vectorisation", timeout=60,
                             json={"text": texts, "model": "tiny-encoder"}, headers={"x-api-key": key}).json()
    assert as_float.data[0].embedding == pytest.approx(backprop["vector"][0], abs=1e-6)
    assert as_float.usage.prompt_tokens > 0
    raw = requests.post(f"{live_api.url}/v1/embeddings", timeout=60, headers={"Authorization": f"Bearer {key}"},
                        json={"model": "tiny-encoder", "input": "hi", "encoding_format": "base64"}).json()
    packed = base64.b64decode(raw["data"][0]["embedding"])
    assert len(struct.unpack(f"<{len(packed) // 4}f", packed)) == len(as_float.data[0].embedding)


@pytest.mark.parametrize(("extra", "param"), [
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}, "tools"),
    ({"logprobs": True}, "logprobs"),
    ({"response_format": {"type": "json_object"}}, "response_format"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x/y.png"}}]}]},
     "messages[0].content"),
])
def test_unsupported_parameters_are_refused_by_name(client, extra, param):
    with pytest.raises(openai.BadRequestError) as exc:
        client.chat.completions.create(**{"model": "tiny-chat", "messages": MESSAGES, **extra})
    error = exc.value.body
    assert error["param"] == param and param.split("[")[0] in error["message"]
    assert error["type"] == "invalid_request_error"


def test_errors_map_to_the_sdks_exception_types(live_api, client, celery_worker):
    bad = openai.OpenAI(base_url=f"{live_api.url}/v1", api_key="fp_not_a_key", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="tiny-chat", messages=MESSAGES)
    with pytest.raises(openai.NotFoundError) as exc:
        client.chat.completions.create(model="no-such-model", messages=MESSAGES)
    assert exc.value.body["param"] == "model"
    with pytest.raises(openai.BadRequestError) as exc:  # a bound of the chat kind
        client.chat.completions.create(model="tiny-chat", messages=MESSAGES, max_tokens=100000)
    assert exc.value.body["param"] == "max_tokens" and "512" in exc.value.body["message"]
    with pytest.raises(openai.BadRequestError):  # the model does not chat
        client.chat.completions.create(model="tiny-encoder", messages=MESSAGES)


def test_bearer_keys_work_on_the_backprop_api_too(live_api, key, celery_worker):
    response = requests.post(f"{live_api.url}/api/text-vectorisation", json={"text": "hi", "model": "tiny-encoder"},
                             headers={"Authorization": f"Bearer {key}"}, timeout=60)
    assert response.status_code == 200, response.text
    assert requests.post(f"{live_api.url}/api/text-vectorisation", json={"text": "hi"}, timeout=60,
                         headers={"Authorization": "Bearer fp_wrong"}).status_code == 401


@pytest.mark.bundled
def test_smollm2_answers_through_the_openai_sdk(client, celery_worker):
    completion = client.chat.completions.create(
        model="smollm2-135m-instruct", temperature=0, max_tokens=40,
        messages=[{"role": "system", "content": "You are a helpful assistant. Answer in one short sentence."},
                  {"role": "user", "content": "What is the capital of France?"}])
    assert "paris" in completion.choices[0].message.content.lower()
    assert completion.choices[0].finish_reason == "stop"


def test_the_rate_limit_is_a_rate_limit_error_with_retry_after(key, django_db_blocker):
    from tests.api.conftest import LiveServer

    server = LiveServer(extra_env={"API_RATE_LIMIT_PER_MINUTE": "2"}, name="uvicorn-rate-limited")
    try:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0)
        for _ in range(2):  # counted before the body is read: an unknown model still spends a request
            with pytest.raises(openai.NotFoundError):
                client.chat.completions.create(model="no-such-model", messages=MESSAGES)
        with pytest.raises(openai.RateLimitError) as exc:
            client.chat.completions.create(model="no-such-model", messages=MESSAGES)
        assert int(exc.value.response.headers["Retry-After"]) >= 1
        assert exc.value.body["code"] == "rate_limited" and exc.value.body["type"] == "rate_limit_error"
    finally:
        server.stop()


def test_v1_answers_unknown_paths_and_oversized_bodies_in_openais_shape(live_api, key):
    missing = requests.get(f"{live_api.url}/v1/no-such-endpoint", headers={"Authorization": f"Bearer {key}"},
                           timeout=10)
    assert missing.status_code == 404 and set(missing.json()["error"]) == {"message", "type", "param", "code"}
    big = requests.post(f"{live_api.url}/v1/embeddings", data=b"x" * 12_000_001, timeout=30,
                        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    assert big.status_code == 413 and big.json()["error"]["code"] == "payload_too_large"


def test_the_openapi_document_describes_v1_from_the_declarations():
    from django.test import Client

    document = Client().get("/api/schema?format=json").json()
    chat = document["paths"]["/v1/chat/completions"]["post"]
    properties = chat["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert {"model", "messages", "max_tokens", "temperature", "n", "stream"} <= set(properties)
    assert "512" in properties["max_tokens"]["description"]  # the chat kind's bound
    completions = document["paths"]["/v1/completions"]["post"]["requestBody"]["content"]["application/json"]
    assert "prompt" in completions["schema"]["properties"] and "text" not in completions["schema"]["properties"]
    assert "/v1/embeddings" in document["paths"] and "/v1/models" in document["paths"]
    assert chat["responses"]["429"]["content"]["application/json"]["schema"]["$ref"].endswith("OpenAIError")


def test_closing_a_v1_stream_cancels_the_job(live_api, celery_worker, key):
    # text-generation's own min_length (an extra parameter by its own name) keeps the model writing.
    body = {"model": "tiny-gpt2", "prompt": "Once upon a time", "max_tokens": 512, "min_length": 512,
            "stream": True}
    response = requests.post(f"{live_api.url}/v1/completions", json=body, stream=True, timeout=60,
                             headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200
    job_id = response.headers["X-Job-Id"]
    for line in response.iter_lines():
        if line.startswith(b"data: "):
            break  # the first chunk: then the client goes away
    response.close()
    from tests.conftest import wait_for_job

    job = wait_for_job(job_id, timeout=30)
    assert job.status == JobStatus.CANCELLED and job.cancel_requested


def test_stop_ends_the_answer_before_the_stop_string(client, celery_worker):
    asked = {"model": "tiny-chat", "messages": MESSAGES, "max_tokens": 24, "temperature": 1.0, "seed": 9}
    whole = client.chat.completions.create(**asked).choices[0].message.content
    assert len(whole) > 6, whole
    stop = whole[4:6]  # somewhere inside the answer the same seed writes again
    cut = client.chat.completions.create(**asked, stop=[stop]).choices[0]
    assert stop not in cut.message.content and whole.startswith(cut.message.content)
    assert cut.finish_reason == "stop"
