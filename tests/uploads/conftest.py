"""Fixtures for uploaded models: archives of tiny models, an upload helper, waiting for a build."""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

# The workers read this cap from their environment; a zip bomb just past it is quick to make, and
# SmolLM2's GGUF file (98 MB, the GGUF upload test) fits. (Set at collection, before the session's
# worker starts.)
TEST_MAX_UNPACKED_BYTES = 128_000_000
os.environ.setdefault("UPLOAD_MAX_UNPACKED_BYTES", str(TEST_MAX_UNPACKED_BYTES))


def zip_folder(folder: Path, *, prefix: str = "") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(Path(folder).rglob("*")):
            if path.is_file():
                archive.write(path, prefix + str(path.relative_to(folder)))
    return buffer.getvalue()


def tar_folder(folder: Path, *, prefix: str = "") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted(Path(folder).rglob("*")):
            if path.is_file():
                archive.add(path, prefix + str(path.relative_to(folder)))
    return buffer.getvalue()


def upload(client, *, name: str, task: str, file_name: str, content: bytes, description: str = ""):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post("/api/models", {"name": name, "task": task, "description": description,
                                       "file": SimpleUploadedFile(file_name, content)}, format="multipart")


def wait_for_build(owner, name: str, *, timeout: float = 120.0):
    """Poll the newest version's row until its build ends."""
    from inference.models import BuildStatus, ModelVersion

    deadline = time.monotonic() + timeout
    version = None
    while time.monotonic() < deadline:
        version = ModelVersion.objects.filter(model__owner=owner, model__name=name).order_by("-number").first()
        if version is not None and version.build_status != BuildStatus.BUILDING:
            return version
        time.sleep(0.1)
    raise AssertionError(f"the build of {name} did not end in {timeout} s ({version})")


def files_under(owner, name: str) -> list[Path]:
    from inference.uploads.paths import model_folder

    folder = model_folder(owner_id=owner.pk, name=name)
    return [p for p in folder.rglob("*") if not p.is_dir()] if folder.exists() else []


@pytest.fixture(autouse=True)
def clean_media():
    """Uploaded files of earlier runs (user ids repeat after a flush) are removed."""
    from django.conf import settings

    shutil.rmtree(Path(settings.MEDIA_ROOT) / "models", ignore_errors=True)
    yield


@pytest.fixture
def other_client(other_user):
    from rest_framework.test import APIClient

    from dashboard.services import api_key_create

    client = APIClient()
    client.credentials(HTTP_X_API_KEY=api_key_create(user=other_user, name="bob's key").plaintext)
    return client
