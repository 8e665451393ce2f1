"""The admin for operators: jobs, API keys and uploaded models, through Django's admin pages."""

from __future__ import annotations

import base64
import re

import pytest
from django.contrib.auth import get_user_model

from dashboard.models import UserAPIKey
from dashboard.services import api_key_create
from inference.models import InferenceJob, JobStatus, UploadedModel
from inference.uploads.paths import model_folder

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    ops = get_user_model().objects.create_superuser(username="ops", email="ops@example.com", password="ops-pass-word")
    client.force_login(ops)  # django-axes needs a request to authenticate; Client.login() passes none
    return client


def test_every_admin_list_opens(admin_client, user):
    InferenceJob.objects.create(owner=user, task_kind="emotion", model_id="emotion-minilm-goemotions",
                                input={"text": "hello"})
    api_key_create(user=user, name="laptop")
    UploadedModel.objects.create(owner=user, name="mine", task_kind="emotion")
    for path in ["/admin/inference/inferencejob/", "/admin/dashboard/userapikey/", "/admin/inference/uploadedmodel/",
                 "/admin/auth/user/"]:
        response = admin_client.get(path)
        assert response.status_code == 200, path
        assert "alice" in response.content.decode(), path


def test_a_job_page_shortens_images_and_a_queued_job_can_be_cancelled(admin_client, user):
    image = "data:image/png;base64," + base64.b64encode(b"\x89PNG" + b"\0" * 30_000).decode()
    job = InferenceJob.objects.create(owner=user, task_kind="image-classification", model_id="efficientnet-lite0",
                                      input={"image": image, "labels": ["cat", "dog"]})
    page = admin_client.get(f"/admin/inference/inferencejob/{job.id}/change/").content.decode()
    assert re.search(r"&lt;image, 30,\d{3} bytes&gt;", page) and "labels" in page
    assert image[:200] not in page

    response = admin_client.post("/admin/inference/inferencejob/", {"action": "cancel", "_selected_action": [job.id]},
                                 follow=True)
    assert "1 job(s) cancelled." in response.content.decode()
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED


def test_keys_are_revoked_not_created_in_the_admin(admin_client, user):
    issued = api_key_create(user=user, name="laptop")
    assert admin_client.get("/admin/dashboard/userapikey/add/").status_code == 403
    page = admin_client.get(f"/admin/dashboard/userapikey/{issued.api_key.pk}/change/").content.decode()
    assert issued.api_key.prefix in page and issued.plaintext not in page

    admin_client.post("/admin/dashboard/userapikey/", {"action": "revoke", "_selected_action": [issued.api_key.pk]})
    key = UserAPIKey.objects.get(pk=issued.api_key.pk)
    assert key.revoked and key.revoked_at is not None


def test_deleting_an_uploaded_model_in_the_admin_removes_its_files(admin_client, user):
    model = UploadedModel.objects.create(owner=user, name="mine", task_kind="emotion")
    folder = model_folder(owner_id=user.pk, name="mine") / "v1"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")

    response = admin_client.post(f"/admin/inference/uploadedmodel/{model.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not UploadedModel.objects.filter(pk=model.pk).exists()
    assert not model_folder(owner_id=user.pk, name="mine").exists()


def test_jobs_are_found_by_owner_or_by_id(admin_client, user):
    job = InferenceJob.objects.create(owner=user, task_kind="emotion", model_id="emotion-minilm-goemotions",
                                      input={"text": "hello"})
    for query in ["alice", str(job.id)]:
        response = admin_client.get("/admin/inference/inferencejob/", {"q": query})
        assert response.status_code == 200, query
        assert str(job.id) in response.content.decode(), query
