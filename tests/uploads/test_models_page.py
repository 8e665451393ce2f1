"""The dashboard's models page: upload, see the build status, delete."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from inference.models import UploadedModel

from .conftest import files_under, wait_for_build, zip_folder

pytestmark = pytest.mark.django_db(transaction=True)


def test_upload_from_the_page_then_delete(celery_worker, tiny_models, client, user):
    client.force_login(user)
    content = zip_folder(Path(tiny_models["tiny-emotion"]["path"]))
    response = client.post(reverse("dashboard:models"), {
        "action": "upload", "name": "page-model", "task": "emotion", "description": "From the page",
        "file": SimpleUploadedFile("model.zip", content)})
    assert response.status_code == 302
    assert wait_for_build(user, "page-model").build_status == "ready"

    page = client.get(reverse("dashboard:models")).content.decode()
    assert "page-model" in page and "ready" in page and "From the page" in page

    client.post(reverse("dashboard:models"), {"action": "delete", "name": "page-model"})
    assert not UploadedModel.objects.exists()
    assert files_under(user, "page-model") == []


def test_a_refused_upload_shows_why(client, user):
    client.force_login(user)
    response = client.post(reverse("dashboard:models"), {
        "action": "upload", "name": "weights", "task": "emotion",
        "file": SimpleUploadedFile("pytorch_model.pt", b"\x80\x04")})
    assert response.status_code == 400
    assert "safe_serialization=True" in response.content.decode()
    assert not UploadedModel.objects.exists()
