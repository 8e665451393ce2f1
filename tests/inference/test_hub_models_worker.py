"""Hub models pulled from the local mirror serve their task kinds through a real worker and POST /api/<kind>."""

from __future__ import annotations

import shutil

import jsonschema
import pytest

from inference.catalog import MODELS, hub_install_dir
from inference.catalog.install import model_pull
from inference.registry import kind_get
from tests.api.conftest import data_uri, png_bytes

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

WAIT = {"HTTP_PREFER": "wait=60"}
CONTEXT = "The cat sits on the mat. Paris is the capital of France."
TEXT = "The council met on Monday and voted to build bicycle lanes across the town centre."

CASES = [
    ("clip-vit-base-patch32", "image-classification", {"image": data_uri(png_bytes()), "labels": ["a cat", "a dog"]},
     "probabilities"),
    ("gpt2-medium", "text-generation", {"text": "Once upon a time", "max_length": 6}, "output"),
    ("distilgpt2", "text-generation", {"text": "Once upon a time", "max_length": 6}, "output"),
    ("gpt2-large", "text-generation", {"text": "Once upon a time", "max_length": 6}, "output"),
    ("t5-base-qa-summary-emotion", "qa", {"question": "Where is the cat?", "context": CONTEXT}, "answer"),
    ("t5-base-qa-summary-emotion", "summarisation", {"text": TEXT}, "summary"),
    ("bart-large-mnli", "text-classification", {"text": "A great match last night", "labels": ["sports", "cooking"]},
     "probabilities"),
    ("distilbert-base-cased-distilled-squad", "qa", {"question": "Where is the cat?", "context": CONTEXT}, "answer"),
    ("distilbart-cnn-12-6", "summarisation", {"text": TEXT}, "summary"),
]


@pytest.fixture(scope="module")
def pulled(hub_mirror):
    """Every hub model pulled into the MODELS_DIR the worker reads; removed afterwards."""
    hub_mirror.reset_faults()
    ids = [spec.id for spec in MODELS if spec.source == "hub"]
    for model_id in ids:
        assert not hub_install_dir(model_id).exists()
        model_pull(model_id=model_id, endpoint=hub_mirror.url)
    yield ids
    for model_id in ids:
        shutil.rmtree(hub_install_dir(model_id), ignore_errors=True)


def test_every_hub_model_is_served_here():
    served = {case[0] for case in CASES}
    assert served == {spec.id for spec in MODELS if spec.source == "hub"}


@pytest.mark.parametrize(("model_id", "kind_name", "payload", "key"), CASES,
                         ids=[f"{case[0]}-{case[1]}" for case in CASES])
def test_a_pulled_hub_model_serves_its_kind_through_a_worker(api_client, pulled, model_id, kind_name, payload, key):
    response = api_client.post(f"/api/{kind_name}", {**payload, "model": model_id}, format="json", **WAIT)
    assert response.status_code == 200, response.content
    body = response.json()
    jsonschema.validate(body, kind_get(kind_name).response_schema)
    assert response["X-Model"] == model_id
    if key == "probabilities":
        assert set(body["probabilities"]) == set(payload["labels"])
        assert sum(body["probabilities"].values()) == pytest.approx(1.0, abs=0.01)
    elif key == "output":
        assert body["output"].startswith(payload["text"])
    else:
        assert isinstance(body[key], str)
