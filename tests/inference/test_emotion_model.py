"""The shipped emotion model (trained by `manage.py train_emotion`) through a real worker."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from inference.jobs import job_submit
from inference.models import JobStatus

from ..conftest import wait_for_job

pytestmark = [pytest.mark.bundled, pytest.mark.django_db(transaction=True)]


def emotions(user, text):
    job = job_submit(user=user, api_key=None, kind_name="emotion", model_id=None,
                              data={"text": text, "scores": True})
    job = wait_for_job(job.id, timeout=120)
    assert job.status == JobStatus.SUCCEEDED, job.error
    return job.output


def test_the_seed_sentence_is_disgust(celery_worker, user):
    output = emotions(user, "The service was awful, and so was the food.")
    assert "disgust" in output["emotion"].split(", ")
    assert len(output["scores"]) == 28


# Written for these tests, not taken from GoEmotions.
CLEAR_CUT = {
    "joy": "I am so happy today, everything went wonderfully!",
    "anger": "I am furious that they lied to me again, this makes me so angry.",
    "sadness": "I feel so sad and lonely since my dog died.",
    "gratitude": "Thank you so much for your help, I really appreciate it.",
    "fear": "I am terrified of what might happen tonight, I'm so scared.",
    "surprise": "Wow, I did not expect that at all, what a shock!",
}


def test_clear_cut_sentences(celery_worker, user):
    output = emotions(user, list(CLEAR_CUT.values()))
    for (expected, text), got in zip(CLEAR_CUT.items(), output["emotion"], strict=True):
        assert expected in got.split(", "), (text, got)


def test_neutral_only_when_nothing_else_passes(celery_worker, user):
    output = emotions(user, ["The meeting is at 3pm in room 4.", "Thank you so much, I love it!"])
    assert output["emotion"][0] == "neutral"
    assert "neutral" not in output["emotion"][1].split(", ")


def test_evaluation_command_prints_the_f1_line(capsys, settings):
    dev = settings.BASE_DIR.parent / "shared" / "data" / "goemotions" / "dev.tsv"
    if not dev.exists():
        pytest.skip("the GoEmotions data is not beside the checkout")
    call_command("evaluate_emotion", str(dev))
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("macro_f1=0.") and " micro_f1=0." in last
