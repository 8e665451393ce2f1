"""The chat task kind end to end through the real worker, with a tiny GPT-2 that carries a chat template.

What a caller relies on: one choice per n, each an assistant message with a finish reason; the prompt is
the model's own chat template applied to the messages, and the token counts in the answer and on the job
row are the model's tokenizer's.
"""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from api.errors import error_status
from inference import jobs as services
from inference.errors import ApiError
from inference.models import JobStatus

from ..conftest import wait_for_job

pytestmark = pytest.mark.django_db(transaction=True)

MESSAGES = [
    {"role": "system", "content": "You answer in one word."},
    {"role": "user", "content": "Once upon a time"},
]


def chat(user, **data):
    job = services.job_submit(user=user, api_key=None, kind_name="chat", model_id="tiny-chat",
                              data={"messages": MESSAGES, **data})
    return wait_for_job(job.id)


def prompt_tokens(tiny_models) -> int:
    tokenizer = AutoTokenizer.from_pretrained(tiny_models["tiny-chat"]["path"])
    rendered = tokenizer.apply_chat_template(MESSAGES, tokenize=False, add_generation_prompt=True)
    assert rendered.startswith("<|im_start|>system\nYou answer in one word.")
    return len(tokenizer(rendered, add_special_tokens=False)["input_ids"])


def test_chat_answers_with_choices_finish_reasons_and_the_tokenizer_counts(celery_worker, user, tiny_models):
    job = chat(user, max_tokens=6, n=3, temperature=1.0, seed=7)
    assert job.status == JobStatus.SUCCEEDED, job.error
    choices, usage = job.output["choices"], job.output["usage"]
    assert len(choices) == 3
    for choice in choices:
        assert choice["message"]["role"] == "assistant"
        assert isinstance(choice["message"]["content"], str)
        assert choice["finish_reason"] in ("stop", "length")
    assert usage["prompt_tokens"] == prompt_tokens(tiny_models)
    assert 3 <= usage["completion_tokens"] <= 3 * 6
    if all(choice["finish_reason"] == "length" for choice in choices):
        assert usage["completion_tokens"] == 18
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    # the job row meters the same tokens (the usage page and /v1 read them there)
    assert (job.prompt_tokens, job.completion_tokens) == (usage["prompt_tokens"], usage["completion_tokens"])
    assert job.finish_reasons == [choice["finish_reason"] for choice in choices]


def test_max_tokens_ends_the_answer_with_finish_reason_length(celery_worker, user, tiny_models):
    # a random tiny model rarely writes its end token within one token: max_tokens=1 ends it
    job = chat(user, max_tokens=1, temperature=0)
    assert job.status == JobStatus.SUCCEEDED, job.error
    (choice,) = job.output["choices"]
    assert job.output["usage"]["completion_tokens"] == 1
    assert choice["finish_reason"] in ("length", "stop")
    if choice["finish_reason"] == "stop":  # it did write its end token first
        assert choice["message"]["content"] == ""


def test_a_seed_reproduces_the_answer(celery_worker, user):
    first = chat(user, max_tokens=8, temperature=1.0, seed=11).output["choices"]
    assert chat(user, max_tokens=8, temperature=1.0, seed=11).output["choices"] == first


def test_text_generation_jobs_are_metered_in_tokens_too(celery_worker, user):
    job = services.job_submit(user=user, api_key=None, kind_name="text-generation", model_id="tiny-chat",
                              data={"text": ["Once upon a time", "The weather"], "min_length": 4, "max_length": 4,
                                    "do_sample": False})
    job = wait_for_job(job.id)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.completion_tokens == 8  # two texts, 4 new tokens each (min_length = max_length)
    assert job.prompt_tokens > 0
    assert job.finish_reasons == ["length", "length"]


@pytest.mark.parametrize(("messages", "says"), [
    ([], "non-empty list"),
    ([{"role": "user"}], "content must be a string"),
    ([{"role": "robot", "content": "hi"}], "role must be one of system, user, assistant"),
    ([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}], "last message must be the user"),
    ([{"role": "user", "content": "hi", "name": "x"}], "unknown field name"),
    ([{"role": "user", "content": [{"type": "text", "text": "hi"}]}], "content must be a string"),
])
def test_bad_conversations_are_refused_naming_what_is_wrong(user, tiny_models, messages, says):
    with pytest.raises(ApiError) as exc:
        services.job_prepare(user=user, kind_name="chat", model_id="tiny-chat", data={"messages": messages})
    assert error_status(exc.value) == 400 and exc.value.field == "messages"
    assert says in exc.value.message


def test_a_model_without_a_chat_template_cannot_serve_chat(user, tiny_models):
    with pytest.raises(ApiError) as exc:
        services.job_prepare(user=user, kind_name="chat", model_id="tiny-gpt2", data={"messages": MESSAGES})
    assert "chat" in exc.value.message
