"""The real bundled models through the real worker: outputs a user would call right, not just well-formed.

Slower than the tiny-model tests (SmolLM2's GGUF is converted once per
checkout into MODEL_CACHE_DIR, about 20 s; later loads reuse it), so marked
``bundled``; they still run in CI.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from inference.jobs import job_submit
from inference.models import JobStatus

from ..conftest import wait_for_job

pytestmark = [pytest.mark.bundled, pytest.mark.django_db(transaction=True)]

COMMON_WORDS = {"the", "a", "an", "and", "was", "there", "in", "of", "to", "who", "she", "he", "her", "his", "it",
                "lived", "little", "once", "upon", "time", "with", "that", "had", "i", "is", "on", "for"}


def output_of(user, kind: str, model: str, *, timeout: float = 120, **data: Any) -> dict[str, Any]:
    job = job_submit(user=user, api_key=None, kind_name=kind, model_id=model, data=data)
    job = wait_for_job(job.id, timeout=timeout)
    assert job.status == JobStatus.SUCCEEDED, job.error
    return job.output


def dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_smollm2_continues_a_story_in_english(celery_worker, user):
    prompt = "Once upon a time"
    out = output_of(user, "text-generation", "smollm2-135m-instruct", timeout=600, text=prompt,
                    min_length=20, max_length=30, do_sample=False)
    text = out["output"]
    assert text.startswith(prompt)
    generated = text[len(prompt):]
    print(f"SmolLM2: {text!r}")
    letters = [ch for ch in generated if not ch.isspace()]
    assert len(letters) >= 40, generated
    assert sum(ch.isascii() and (ch.isalpha() or ch in ".,;:'\"!?-") for ch in letters) / len(letters) > 0.9, generated
    words = re.findall(r"[a-z']+", generated.lower())
    assert len(set(words) & COMMON_WORDS) >= 3, generated


def test_minilm_puts_paraphrases_closer_than_an_unrelated_sentence(celery_worker, user):
    texts = ["A man is playing a guitar on the stage.", "Someone performs a song with his guitar.",
             "The central bank raised interest rates again."]
    first, paraphrase, unrelated = output_of(user, "text-vectorisation", "all-minilm-l6-v2", text=texts)["vector"]
    assert len(first) == 384
    print(f"paraphrase {dot(first, paraphrase):.3f}, unrelated {dot(first, unrelated):.3f}")
    assert dot(first, paraphrase) > dot(first, unrelated) + 0.2


def test_minilm_classifies_a_football_final_as_sports(celery_worker, user):
    labels = ["sports", "politics", "technology", "cooking"]
    out = output_of(user, "text-classification", "all-minilm-l6-v2",
                    text="Spain won the football final after a penalty shoot-out.", labels=labels)
    probabilities = out["probabilities"]
    assert sorted(probabilities) == sorted(labels)
    assert max(probabilities, key=probabilities.get) == "sports"
    assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-3)


def test_smollm2_chats_through_its_own_chat_template(celery_worker, user):
    messages = [{"role": "system", "content": "You are a helpful assistant. Answer in one short sentence."},
                {"role": "user", "content": "What is the capital of France?"}]
    out = output_of(user, "chat", "smollm2-135m-instruct", timeout=600, messages=messages, max_tokens=40,
                    temperature=0)
    (choice,) = out["choices"]
    print(f"SmolLM2 chat: {choice!r} {out['usage']}")
    assert "paris" in choice["message"]["content"].lower()
    assert choice["finish_reason"] == "stop"  # it ends its message itself, well before 40 tokens
    # the ChatML prompt (system, user, the assistant's header) is far longer than the question alone
    assert out["usage"]["prompt_tokens"] > 20
    assert 0 < out["usage"]["completion_tokens"] < 40
