"""Every public task kind end to end: job_submit, the real worker on Redis, the stored output.

Tiny models with random weights (tests/tinymodels.py): the outputs are
well-formed, not meaningful, so these tests check shapes, bounds and the
behaviour a caller relies on (a list in gives a list out, a seed repeats, a
stop string ends the text). The session worker keeps the models loaded.
"""

from __future__ import annotations

import base64
import io
import math
from typing import Any

import pytest
from PIL import Image

from inference.jobs import job_submit
from inference.models import InferenceJob, JobStatus

from ..conftest import GOEMOTIONS_LABELS, wait_for_job

pytestmark = pytest.mark.django_db(transaction=True)


def png_data_uri(color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (40, 32)) -> str:
    """A small PNG, as the data URI a client sends."""
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def finished(user, kind: str, model: str, *, timeout: float = 60, **data: Any) -> InferenceJob:
    job = job_submit(user=user, api_key=None, kind_name=kind, model_id=model, data=data)
    return wait_for_job(job.id, timeout=timeout)


def output_of(user, kind: str, model: str, **data: Any) -> dict[str, Any]:
    job = finished(user, kind, model, **data)
    assert job.status == JobStatus.SUCCEEDED, job.error
    return job.output


def tiny_tokenizer(tiny_models, model_id: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_models[model_id]["path"], local_files_only=True)


def assert_unit(vector: list[float]) -> None:
    assert vector and all(isinstance(x, float) for x in vector)
    assert math.sqrt(sum(x * x for x in vector)) == pytest.approx(1.0, abs=1e-3)


def assert_distribution(probabilities: dict[str, float], labels: list[str]) -> None:
    assert sorted(probabilities) == sorted(labels)
    assert all(0.0 <= p <= 1.0 for p in probabilities.values())
    assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-3)


# --- emotion -------------------------------------------------------------------


def test_emotion_returns_known_labels(celery_worker, user):
    out = output_of(user, "emotion", "tiny-emotion", text="I am so happy today!")
    labels = [label.strip() for label in out["emotion"].split(",")]
    assert labels and set(labels) <= set(GOEMOTIONS_LABELS)
    assert "scores" not in out


def test_emotion_list_in_list_out_with_scores(celery_worker, user):
    out = output_of(user, "emotion", "tiny-emotion", text=["What a lovely day.", "The train was late again."],
                    scores=True)
    assert isinstance(out["emotion"], list) and len(out["emotion"]) == 2
    for emotion in out["emotion"]:
        assert set(label.strip() for label in emotion.split(",")) <= set(GOEMOTIONS_LABELS)
    assert isinstance(out["scores"], list) and len(out["scores"]) == 2
    for scores in out["scores"]:
        assert sorted(scores) == sorted(GOEMOTIONS_LABELS)
        assert all(0.0 <= value <= 1.0 for value in scores.values())


# --- text-generation -------------------------------------------------------------

PROMPT = "Once upon a time"


def test_text_generation_continues_the_prompt(celery_worker, user):
    out = output_of(user, "text-generation", "tiny-gpt2", text=PROMPT, min_length=5, max_length=10)
    assert isinstance(out["output"], str)
    assert out["output"].startswith(PROMPT)
    assert len(out["output"]) > len(PROMPT)


def test_text_generation_num_generations_gives_a_list(celery_worker, user):
    out = output_of(user, "text-generation", "tiny-gpt2", text=PROMPT, num_generations=2, max_length=8, seed=1)
    assert isinstance(out["output"], list) and len(out["output"]) == 2
    assert all(text.startswith(PROMPT) for text in out["output"])


def test_text_generation_seed_repeats(celery_worker, user):
    params = {"text": PROMPT, "max_length": 15, "seed": 1234, "temperature": 1.5}
    first = output_of(user, "text-generation", "tiny-gpt2", **params)
    second = output_of(user, "text-generation", "tiny-gpt2", **params)
    other = output_of(user, "text-generation", "tiny-gpt2", **{**params, "seed": 4321})
    assert first == second
    assert other != first  # the seed is what made them equal


def test_text_generation_max_length_bounds_new_tokens(celery_worker, user, tiny_models):
    tokenizer = tiny_tokenizer(tiny_models, "tiny-gpt2")
    out = output_of(user, "text-generation", "tiny-gpt2", text=PROMPT, min_length=0, max_length=5, seed=7)
    generated = out["output"][len(PROMPT):]
    assert 0 < len(tokenizer(generated, add_special_tokens=False)["input_ids"]) <= 5
    longer = output_of(user, "text-generation", "tiny-gpt2", text=PROMPT, min_length=30, max_length=30, seed=7)
    assert len(tokenizer(longer["output"][len(PROMPT):], add_special_tokens=False)["input_ids"]) > 5


def test_text_generation_stop_string_ends_the_text(celery_worker, user):
    params = {"text": PROMPT, "min_length": 20, "max_length": 20, "seed": 99}
    free = output_of(user, "text-generation", "tiny-gpt2", **params)["output"][len(PROMPT):]
    stop = next(ch for ch in free[1:] if ch.strip())  # a character the free run writes after its start
    stopped = output_of(user, "text-generation", "tiny-gpt2", **params, stop=stop)["output"]
    assert stopped.startswith(PROMPT)
    generated = stopped[len(PROMPT):]
    assert stop not in generated
    assert free.startswith(generated)  # the same text, ended where the stop string began


def test_text_generation_with_t5(celery_worker, user):
    out = output_of(user, "text-generation", "tiny-t5", text=PROMPT, max_length=8)
    assert isinstance(out["output"], str) and out["output"].startswith(PROMPT)


# --- qa ----------------------------------------------------------------------------

CONTEXT = "Sally lives in London with her two cats. She works at a bakery near the river."


def test_qa_extractive_answer_is_a_span_of_the_context(celery_worker, user):
    out = output_of(user, "qa", "tiny-qa", question="Where does Sally live?", context=CONTEXT)
    assert isinstance(out["answer"], str)
    assert out["answer"].lower() in CONTEXT.lower()


def test_qa_generative_with_earlier_turns(celery_worker, user):
    out = output_of(user, "qa", "tiny-gpt2", question="Where does she work?", context=CONTEXT,
                    prev_q=["Where does Sally live?"], prev_a=["London"])
    assert isinstance(out["answer"], str)
    assert "\n" not in out["answer"]  # a plain-prompt answer ends at the line


# --- summarisation -------------------------------------------------------------------

ARTICLE = ("The city council met on Tuesday to discuss the new bicycle lanes. After two hours of debate, members "
           "voted eight to three to build the first lanes next spring.")


@pytest.mark.parametrize("model", ["tiny-t5", "tiny-gpt2"])
def test_summarisation_returns_text(celery_worker, user, model):
    # T5's default summary search (4 beams, up to 200 tokens) runs to the end with random weights:
    # under a second alone, far longer on a CPU shared with other work.
    job = finished(user, "summarisation", model, timeout=180, text=ARTICLE)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert isinstance(job.output["summary"], str)


def test_summarisation_list_in_list_out(celery_worker, user):
    out = output_of(user, "summarisation", "tiny-gpt2", text=[ARTICLE, "The fox found a small house."])
    assert isinstance(out["summary"], list) and len(out["summary"]) == 2
    assert all(isinstance(summary, str) for summary in out["summary"])


# --- text-classification ----------------------------------------------------------------

LABELS = ["sports", "politics", "technology"]


@pytest.mark.parametrize("model", ["tiny-nli", "tiny-encoder"])
def test_text_classification_distribution_over_the_labels(celery_worker, user, model):
    out = output_of(user, "text-classification", model, text="Spain won the football final.", labels=LABELS)
    assert_distribution(out["probabilities"], LABELS)
    values = list(out["probabilities"].values())
    assert values == sorted(values, reverse=True)  # highest first


def test_text_classification_comma_separated_labels_and_a_list_of_texts(celery_worker, user):
    out = output_of(user, "text-classification", "tiny-encoder", text=["A new phone.", "An election."],
                    labels="sports, politics, technology")
    assert isinstance(out["probabilities"], list) and len(out["probabilities"]) == 2
    for probabilities in out["probabilities"]:
        assert_distribution(probabilities, LABELS)


# --- vectorisation ------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["tiny-encoder", "tiny-clip"])
def test_text_vectorisation_unit_vectors(celery_worker, user, model):
    single = output_of(user, "text-vectorisation", model, text="a photo of a cat")
    assert_unit(single["vector"])
    many = output_of(user, "text-vectorisation", model, text=["a photo of a cat", "a red car"])
    assert isinstance(many["vector"], list) and len(many["vector"]) == 2
    for vector in many["vector"]:
        assert_unit(vector)
        assert len(vector) == len(single["vector"])
    assert many["vector"][0] == pytest.approx(single["vector"], abs=1e-5)  # batching does not change a vector


def test_image_vectorisation(celery_worker, user):
    out = output_of(user, "image-vectorisation", "tiny-clip", image=png_data_uri())
    assert_unit(out["vector"])
    many = output_of(user, "image-vectorisation", "tiny-clip", image=[png_data_uri(), png_data_uri((0, 0, 255))])
    assert len(many["vector"]) == 2
    for vector in many["vector"]:
        assert_unit(vector)


def test_image_text_vectorisation(celery_worker, user):
    out = output_of(user, "image-text-vectorisation", "tiny-clip", image=png_data_uri(), text="a red square")
    assert_unit(out["vector"])


# --- image-classification ------------------------------------------------------------------


def test_image_classification_with_labels(celery_worker, user):
    labels = ["cat", "dog", "car"]
    out = output_of(user, "image-classification", "tiny-clip", image=png_data_uri(), labels=labels)
    assert_distribution(out["probabilities"], labels)
    assert "unmatched" not in out


def test_image_classification_zero_shot_model_needs_labels(celery_worker, user):
    job = finished(user, "image-classification", "tiny-clip", image=png_data_uri())
    assert job.status == JobStatus.FAILED
    assert "labels" in job.error
