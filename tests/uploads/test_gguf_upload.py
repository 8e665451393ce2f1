"""A GGUF upload end to end: SmolLM2's real file is built, converted beside its version, served, and deleted."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from inference.backends.bundled import smollm2_gguf
from inference.models import BuildStatus

from .conftest import files_under, upload, wait_for_build

pytestmark = pytest.mark.django_db(transaction=True)


def conversions_in_model_cache() -> set[str]:
    folder = Path(settings.MODEL_CACHE_DIR) / "gguf"
    return {path.name for path in folder.iterdir()} if folder.exists() else set()


def test_a_gguf_upload_builds_serves_and_leaves_nothing_when_deleted(celery_worker, user, api_client):
    shared_cache = conversions_in_model_cache()
    response = upload(api_client, name="my-smollm", task="text-generation", file_name="SmolLM2.gguf",
                      content=smollm2_gguf().read_bytes())
    assert response.status_code == 202, response.json()

    version = wait_for_build(user, "my-smollm", timeout=300)
    assert version.build_status == BuildStatus.READY, version.build_message
    # The one-off conversion lives with the version, not in the shared model cache.
    assert any(path.name == "config.json" and "/v1/gguf/" in str(path) for path in files_under(user, "my-smollm"))
    assert conversions_in_model_cache() == shared_cache

    answer = api_client.post("/api/text-generation", {"text": "Once upon a time", "model": "my-smollm",
                                                      "max_length": 12}, format="json")
    assert answer.status_code == 200, answer.json()
    assert answer.json()["output"].startswith("Once upon a time") and len(answer.json()["output"]) > 20

    # The web process counts tokens with the converted tokenizer: 4,000 characters of digits are
    # over the 1,024-token bound (SmolLM2 splits digits one by one).
    too_long = api_client.post("/api/text-generation", {"text": "9 " * 2000, "model": "my-smollm"}, format="json")
    assert too_long.status_code == 400
    assert "token" in too_long.json()["error"]["message"]

    assert api_client.delete("/api/models/my-smollm").status_code == 204
    assert files_under(user, "my-smollm") == []
