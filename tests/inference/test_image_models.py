"""EfficientNet-Lite0, the bundled image model, through a real worker on real photos."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from PIL import Image

from inference.jobs import job_submit
from inference.models import JobStatus

from ..conftest import wait_for_job

pytestmark = [pytest.mark.bundled, pytest.mark.django_db(transaction=True)]

EXAMPLES = Path(__file__).resolve().parents[2] / "static" / "examples"
CAT_CLASSES = {"tabby cat", "tiger cat", "Egyptian cat", "Persian cat", "Siamese cat"}


def data_uri(path: Path | None = None, image: Image.Image | None = None) -> str:
    if image is None:
        raw = path.read_bytes()
        mime = "image/png" if path.suffix == ".png" else "image/jpeg"
    else:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        raw, mime = buffer.getvalue(), "image/png"
    return f"data:{mime};base64,{base64.b64encode(raw).decode()}"


def run(user, kind: str, **data) -> dict:
    job = job_submit(user=user, api_key=None, kind_name=kind, model_id="efficientnet-lite0", data=data)
    job = wait_for_job(job.id, timeout=180)
    assert job.status == JobStatus.SUCCEEDED, job.error
    return job.output


def test_cat_photo_has_a_cat_class_in_its_top_3(celery_worker, user):
    output = run(user, "image-classification", image=data_uri(EXAMPLES / "chelsea.png"), top_k=3)
    top3 = list(output["probabilities"])
    assert len(top3) == 3
    assert CAT_CLASSES & set(top3), top3
    assert abs(sum(output["probabilities"].values()) - 1) < 1e-3


def test_cat_wins_among_cat_dog_car(celery_worker, user):
    output = run(user, "image-classification", image=data_uri(EXAMPLES / "chelsea.png"), labels="cat, dog, car")
    probabilities = output["probabilities"]
    assert max(probabilities, key=probabilities.get) == "cat"
    assert abs(sum(probabilities.values()) - 1) < 1e-3
    assert "unmatched" not in output


def test_coffee_is_espresso_or_cup_first(celery_worker, user):
    output = run(user, "image-classification", image=data_uri(EXAMPLES / "coffee.png"))
    assert next(iter(output["probabilities"])) in {"espresso", "cup", "coffee mug"}


def test_cat_vector_is_closer_to_a_cropped_cat_than_to_coffee(celery_worker, user):
    cat = Image.open(EXAMPLES / "chelsea.png").convert("RGB")
    width, height = cat.size
    cropped = cat.crop((int(width * 0.05), int(height * 0.05), int(width * 0.95), int(height * 0.95)))
    output = run(user, "image-vectorisation", image=[data_uri(EXAMPLES / "chelsea.png"), data_uri(image=cropped),
                                                       data_uri(EXAMPLES / "coffee.png")])
    cat_v, cropped_v, coffee_v = output["vector"]
    assert len(cat_v) == 1280
    dot = lambda a, b: sum(x * y for x, y in zip(a, b, strict=True))  # noqa: E731
    assert abs(dot(cat_v, cat_v) - 1) < 1e-3
    assert dot(cat_v, cropped_v) > dot(cat_v, coffee_v) + 0.3


def test_a_label_without_a_class_is_reported_unmatched(celery_worker, user):
    output = run(user, "image-classification", image=data_uri(EXAMPLES / "chelsea.png"), labels="cat, zorblefrax")
    assert output["unmatched"] == ["zorblefrax"]
    assert set(output["probabilities"]) == {"cat"}


def test_no_matching_label_at_all_fails_with_a_reason(celery_worker, user):
    job = job_submit(user=user, api_key=None, kind_name="image-classification", model_id="efficientnet-lite0",
                              data={"image": data_uri(EXAMPLES / "chelsea.png"), "labels": "zorblefrax, quibbleton"})
    job = wait_for_job(job.id, timeout=180)
    assert job.status == JobStatus.FAILED
    assert "zero-shot" in job.error
