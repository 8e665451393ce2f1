"""Every task kind through POST /api/<kind> on tiny models and a real worker: Backprop shapes and headers."""

import jsonschema
import pytest

from inference.registry import kind_get

from .conftest import data_uri, png_bytes

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

WAIT = {"HTTP_PREFER": "wait=60"}

CASES = [
    ("emotion", {"text": "The service was awful, and so was the food.", "model": "tiny-emotion"}, "emotion"),
    ("emotion", {"text": ["I love it", "I hate it"], "model": "tiny-emotion", "scores": True}, "emotion"),
    ("text-generation", {"text": "Once upon a time", "min_length": 2, "max_length": 6, "temperature": 0.8,
                         "top_p": 0.5, "model": "tiny-gpt2"}, "output"),
    ("text-generation", {"text": "Translate: hello", "max_length": 4, "model": "tiny-t5"}, "output"),
    ("qa", {"question": "Where is the cat?", "context": "The cat sits on the mat.", "model": "tiny-qa"}, "answer"),
    ("qa", {"question": "Where is the cat?", "context": "The cat sits on the mat.", "model": "tiny-gpt2"}, "answer"),
    ("summarisation", {"text": "The council met on Monday and voted to build bicycle lanes.", "model": "tiny-t5"},
     "summary"),
    ("text-classification", {"text": "A great match last night", "labels": ["sports", "cooking"],
                             "model": "tiny-nli"}, "probabilities"),
    ("text-classification", {"text": "A great match last night", "labels": "sports, cooking",
                             "model": "tiny-encoder"}, "probabilities"),
    ("text-vectorisation", {"text": "hello world", "model": "tiny-encoder"}, "vector"),
    ("text-vectorisation", {"text": ["hello", "world"], "model": "tiny-clip"}, "vector"),
]


def _check(response, kind_name, key, model):
    assert response.status_code == 200, response.content
    body = response.json()
    jsonschema.validate(body, kind_get(kind_name).response_schema)
    assert key in body
    assert response["X-Request-Id"]
    assert int(response["X-Queue-Ms"]) >= 0
    assert int(response["X-Compute-Ms"]) >= 0
    assert response["X-Model"] == model
    return body


@pytest.mark.parametrize(("kind_name", "payload", "key"), CASES,
                         ids=[f"{c[0]}-{c[1]['model']}-{i}" for i, c in enumerate(CASES)])
def test_task_kind_happy_path(api_client, kind_name, payload, key):
    response = api_client.post(f"/api/{kind_name}", payload, format="json", **WAIT)
    body = _check(response, kind_name, key, payload["model"])
    if kind_name == "text-generation":
        assert body["output"].startswith(payload["text"])
    if isinstance(payload.get("text"), list) and kind_name != "text-generation":
        assert isinstance(body[key], list) and len(body[key]) == len(payload["text"])
    if key == "probabilities":
        assert set(body["probabilities"]) == {"sports", "cooking"}
        assert sum(body["probabilities"].values()) == pytest.approx(1.0, abs=0.01)


IMAGE_CASES = [
    ("image-classification", {"labels": ["a cat", "a dog"]}, "probabilities"),
    ("image-vectorisation", {}, "vector"),
    ("image-text-vectorisation", {"text": "a red square"}, "vector"),
]


@pytest.mark.parametrize(("kind_name", "extra", "key"), IMAGE_CASES, ids=[c[0] for c in IMAGE_CASES])
def test_image_kinds_take_a_data_uri_and_a_multipart_upload(api_client, kind_name, extra, key):
    as_json = api_client.post(f"/api/{kind_name}", {"image": data_uri(png_bytes()), "model": "tiny-clip", **extra},
                              format="json", **WAIT)
    first = _check(as_json, kind_name, key, "tiny-clip")
    upload = {"model": "tiny-clip", **{k: ",".join(v) if isinstance(v, list) else v for k, v in extra.items()}}
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload["image"] = SimpleUploadedFile("red.png", png_bytes(), content_type="image/png")
    as_file = api_client.post(f"/api/{kind_name}", upload, format="multipart", **WAIT)
    second = _check(as_file, kind_name, key, "tiny-clip")
    if key == "probabilities":
        assert set(first["probabilities"]) == set(second["probabilities"]) == {"a cat", "a dog"}
    else:
        assert first["vector"] == pytest.approx(second["vector"], abs=1e-4)  # the same image either way
