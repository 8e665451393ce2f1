"""Uploading models through the API: built on a real worker, then served privately to their owner."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from inference.jobs.selectors import model_resolve
from inference.models import BuildStatus, ModelVersion, UploadedModel
from inference.uploads.build import example_input

from .conftest import files_under, tar_folder, upload, wait_for_build, zip_folder

pytestmark = pytest.mark.django_db(transaction=True)

SERVES = [
    ("emotion", "tiny-emotion", "zip"),
    ("text-generation", "tiny-gpt2", "tar.gz"),
    ("text-vectorisation", "tiny-encoder", "zip"),
    ("qa", "tiny-qa", "tar.gz"),
    ("image-classification", "tiny-clip", "zip"),
]


def _archive(folder: str | Path, fmt: str, *, prefix: str = "") -> tuple[str, bytes]:
    if fmt == "zip":
        return "model.zip", zip_folder(Path(folder), prefix=prefix)
    return "model.tar.gz", tar_folder(Path(folder), prefix=prefix)


def _run(client, kind: str, name: str):
    return client.post(f"/api/{kind}", {**example_input(kind), "model": name}, format="json")


@pytest.mark.parametrize(("kind", "tiny", "fmt"), SERVES)
def test_an_uploaded_model_builds_and_answers_its_task_kind(celery_worker, tiny_models, user, api_client,
                                                            kind, tiny, fmt):
    file_name, content = _archive(tiny_models[tiny]["path"], fmt, prefix="my-model/")
    response = upload(api_client, name="my-model", task=kind, file_name=file_name, content=content,
                      description="Mine.")
    assert response.status_code == 202, response.json()
    assert response.json()["build_status"] == "building"

    version = wait_for_build(user, "my-model")
    assert version.build_status == BuildStatus.READY, version.build_message

    detail = api_client.get("/api/models/my-model").json()
    assert (detail["build_status"], detail["source"], detail["tasks"]) == ("ready", "uploaded", [kind])
    assert "my-model" in [m["id"] for m in api_client.get("/api/models").json()["models"]]

    answer = _run(api_client, kind, "my-model")
    assert answer.status_code == 200, answer.json()
    from inference.registry import kind_get

    assert set(kind_get(kind).response_example) <= set(answer.json())


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _folder_entries(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _pickle_zip(tiny_models) -> tuple[str, bytes]:
    entries = _folder_entries(Path(tiny_models["tiny-emotion"]["path"]))
    entries.pop("model.safetensors")
    entries["pytorch_model.bin"] = b"\x80\x04not really a pickle"
    return "model.zip", _zip(entries)


def _escaping_zip(tiny_models) -> tuple[str, bytes]:
    return "model.zip", _zip({**_folder_entries(Path(tiny_models["tiny-emotion"]["path"])), "../evil": b"gotcha"})


def _zip_bomb(tiny_models) -> tuple[str, bytes]:
    from .conftest import TEST_MAX_UNPACKED_BYTES

    entries = _folder_entries(Path(tiny_models["tiny-emotion"]["path"]))
    entries["padding.txt"] = b"\0" * (TEST_MAX_UNPACKED_BYTES + 10_000_000)
    return "model.zip", _zip(entries)


def _symlink_tar(tiny_models) -> tuple[str, bytes]:
    folder = Path(tiny_models["tiny-emotion"]["path"])
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted(folder.iterdir()):
            archive.add(path, path.name)
        link = tarfile.TarInfo("passwd")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        archive.addfile(link)
    return "model.tar.gz", buffer.getvalue()


def _wrong_architecture(tiny_models) -> tuple[str, bytes]:
    return "model.zip", zip_folder(Path(tiny_models["tiny-gpt2"]["path"]))


def _corrupt_weights(tiny_models) -> tuple[str, bytes]:
    entries = _folder_entries(Path(tiny_models["tiny-emotion"]["path"]))
    entries["model.safetensors"] = b"\x10\x00\x00\x00\x00\x00\x00\x00{not safetensors" + b"\0" * 1000
    return "model.zip", _zip(entries)


@pytest.mark.parametrize(("make", "reason"), [
    (_pickle_zip, "safe_serialization=True"),
    (_escaping_zip, "escapes the model folder"),
    (_zip_bomb, "unpacks to more than"),
    (_symlink_tar, "symbolic link"),
    (_wrong_architecture, "cannot serve the task kind emotion"),
    (_corrupt_weights, "could not be loaded"),
])
def test_a_bad_upload_fails_with_its_reason_and_leaves_nothing(celery_worker, tiny_models, user, api_client,
                                                               settings, make, reason):
    file_name, content = make(tiny_models)
    response = upload(api_client, name="bad-model", task="emotion", file_name=file_name, content=content)
    assert response.status_code == 202, response.json()

    version = wait_for_build(user, "bad-model")
    assert version.build_status == BuildStatus.FAILED
    assert reason in version.build_message
    detail = api_client.get("/api/models/bad-model").json()
    assert (detail["build_status"], detail["build_message"]) == ("failed", version.build_message)
    assert files_under(user, "bad-model") == []
    assert not list(Path(settings.MEDIA_ROOT).rglob("evil"))
    assert _run(api_client, "emotion", "bad-model").status_code == 404  # nothing ready to serve


@pytest.mark.parametrize(("fields", "field"), [
    ({"name": "all-minilm-l6-v2"}, "name"),  # a catalog model's id
    ({"name": "My Model!"}, "name"),
    ({"name": "ab"}, "name"),
    ({"task": "echo"}, "task"),
    ({"file_name": "pytorch_model.bin"}, "file"),
    ({"file_name": "model.rar"}, "file"),
])
def test_a_malformed_upload_is_refused_at_once(user, api_client, fields, field):
    request = {"name": "fine-name", "task": "emotion", "file_name": "model.zip", "content": b"PK", **fields}
    response = upload(api_client, **request)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not UploadedModel.objects.exists()


def test_another_user_cannot_see_run_or_delete_a_model(celery_worker, tiny_models, user, api_client, other_client):
    upload(api_client, name="private", task="emotion", file_name="m.zip",
           content=zip_folder(Path(tiny_models["tiny-emotion"]["path"])))
    assert wait_for_build(user, "private").build_status == BuildStatus.READY

    assert other_client.get("/api/models/private").status_code == 404
    assert "private" not in [m["id"] for m in other_client.get("/api/models").json()["models"]]
    assert _run(other_client, "emotion", "private").status_code == 404
    assert other_client.delete("/api/models/private").status_code == 404
    assert _run(api_client, "emotion", "private").status_code == 200

    assert api_client.delete("/api/models/private").status_code == 204
    assert files_under(user, "private") == []
    assert not UploadedModel.objects.exists() and not ModelVersion.objects.exists()
    assert api_client.get("/api/models/private").status_code == 404


def test_a_new_version_serves_only_once_it_is_ready(celery_worker, tiny_models, user, api_client):
    folder = Path(tiny_models["tiny-emotion"]["path"])
    upload(api_client, name="versioned", task="emotion", file_name="m.zip", content=zip_folder(folder))
    assert wait_for_build(user, "versioned").build_status == BuildStatus.READY

    # A broken second version: the first keeps serving.
    upload(api_client, name="versioned", task="emotion", file_name="m.zip", content=_corrupt_weights(tiny_models)[1])
    assert model_resolve(model_id="versioned", user=user).revision.startswith("1.")
    failed = wait_for_build(user, "versioned")
    assert (failed.number, failed.build_status) == (2, BuildStatus.FAILED)
    detail = api_client.get("/api/models/versioned").json()
    assert (detail["build_status"], detail["serving_version"]) == ("failed", 1)
    assert _run(api_client, "emotion", "versioned").status_code == 200

    # A good third version replaces it once ready; the first one's files go.
    upload(api_client, name="versioned", task="emotion", file_name="m.tar.gz", content=tar_folder(folder))
    assert model_resolve(model_id="versioned", user=user).revision.startswith("1.")
    ready = wait_for_build(user, "versioned")
    assert (ready.number, ready.build_status) == (3, BuildStatus.READY), ready.build_message
    assert model_resolve(model_id="versioned", user=user).revision.startswith("3.")
    assert all("/v3/" in str(p) for p in files_under(user, "versioned"))
    assert _run(api_client, "emotion", "versioned").status_code == 200
