"""The per-user storage quota for uploaded models: refused before the file is saved, with the numbers.

No worker: the upload is refused (or accepted) in the web process; a build is only enqueued on commit.
"""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from inference.models import BuildStatus, ModelVersion

from .conftest import files_under, upload

pytestmark = pytest.mark.django_db


def _upload(client, name: str, size: int):
    return upload(client, name=name, task="emotion", file_name="model.zip", content=b"z" * size)


def test_an_upload_past_the_quota_is_refused_naming_the_quota_and_the_usage(api_client, user, settings):
    settings.UPLOAD_STORAGE_QUOTA_BYTES = 1000
    assert _upload(api_client, "first-model", 600).status_code == 202

    response = _upload(api_client, "second-model", 600)
    assert response.status_code == 403, response.content
    error = response.json()["error"]
    assert error["code"] == "storage_quota_exceeded"
    assert "1,000" in error["message"] and "600" in error["message"]
    assert error["fields"]["file"]
    assert response.json()["request_id"] == response["X-Request-Id"]
    assert not ModelVersion.objects.filter(model__name="second-model").exists()
    assert files_under(user, "second-model") == []

    # A new version of a model counts too: the old one is kept until the new one is ready.
    assert _upload(api_client, "first-model", 600).status_code == 403
    assert _upload(api_client, "first-model", 400).status_code == 202


def test_the_quota_is_per_user(api_client, other_client, settings):
    settings.UPLOAD_STORAGE_QUOTA_BYTES = 1000
    assert _upload(api_client, "alices-model", 900).status_code == 202
    assert _upload(other_client, "bobs-model", 900).status_code == 202


def test_a_failed_version_holds_no_storage(api_client, settings):
    settings.UPLOAD_STORAGE_QUOTA_BYTES = 1000
    assert _upload(api_client, "broken-model", 900).status_code == 202
    assert _upload(api_client, "next-model", 900).status_code == 403
    ModelVersion.objects.filter(model__name="broken-model").update(build_status=BuildStatus.FAILED)
    assert _upload(api_client, "next-model", 900).status_code == 202


def test_zero_is_unlimited(api_client, settings):
    settings.UPLOAD_STORAGE_QUOTA_BYTES = 0
    assert _upload(api_client, "big-model", 5000).status_code == 202
    assert _upload(api_client, "bigger-model", 5000).status_code == 202


def test_the_models_page_shows_the_quota(client, user, settings):
    settings.UPLOAD_STORAGE_QUOTA_BYTES = 100
    client.force_login(user)
    response = client.post(reverse("dashboard:models"), {
        "action": "upload", "name": "page-model", "task": "emotion",
        "file": SimpleUploadedFile("model.zip", b"z" * 200)})
    assert response.status_code == 400
    assert "storage quota" in response.content.decode()
    assert not ModelVersion.objects.exists()
