"""``models import`` / ``models export``: installing a hub model on a server without a hub."""

from __future__ import annotations

import io
import shutil
import tarfile
import zipfile
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from inference.catalog import catalog_get, hub_install_dir
from tests import tinymodels

MODEL = "distilbert-base-cased-distilled-squad"  # kinds: qa


@pytest.fixture(scope="module")
def tiny_qa(tmp_path_factory):
    return tinymodels.build_tiny_distilbert_qa(tmp_path_factory.mktemp("qa") / "model")


@pytest.fixture
def models_dir(settings, tmp_path):
    settings.MODELS_DIR = tmp_path / "models"
    return settings.MODELS_DIR


def _visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) if folder.exists() else []


def _installed_nothing(folder: Path) -> bool:
    return _visible(folder) == [] and not list(folder.glob(".*.partial-*"))


def _import(model_id: str, path: Path) -> str:
    out = StringIO()
    call_command("models", "import", model_id, str(path), stdout=out)
    return out.getvalue()


def test_import_a_folder_then_export_and_import_the_archive_on_another_server(tiny_qa, models_dir, settings,
                                                                             tmp_path):
    out = _import(MODEL, tiny_qa)
    target = hub_install_dir(MODEL)
    assert f"installed {MODEL} at {target}" in out
    assert catalog_get(MODEL).installed
    assert (target / "model.safetensors").read_bytes() == (tiny_qa / "model.safetensors").read_bytes()

    archive = tmp_path / "export" / f"{MODEL}.tar.gz"
    out = StringIO()
    call_command("models", "export", MODEL, str(archive), stdout=out)
    assert f"models import {MODEL} {archive.name}" in out.getvalue()
    with tarfile.open(archive) as tar:
        assert f"{MODEL}/config.json" in tar.getnames()

    settings.MODELS_DIR = tmp_path / "offline-server"  # the other machine
    assert not catalog_get(MODEL).installed
    _import(MODEL, archive)
    assert catalog_get(MODEL).installed
    assert _visible(settings.MODELS_DIR) == [MODEL]


def test_import_a_zip_export(tiny_qa, models_dir, tmp_path):
    _import(MODEL, tiny_qa)
    archive = tmp_path / "qa.zip"
    call_command("models", "export", MODEL, str(archive), stdout=StringIO())
    shutil.rmtree(hub_install_dir(MODEL))
    _import(MODEL, archive)
    assert catalog_get(MODEL).installed


def _tar_with(path: Path, entries: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _model_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")}


@pytest.mark.parametrize(("case", "words"), [
    ("escapes", "escapes the model folder"),
    ("pickle", "holds pickle weights"),
    ("no-safetensors", "No safetensors weights"),
    ("wrong-architecture", "cannot serve the task kind qa"),
    ("not-an-archive", "is neither a model folder nor a .zip / .tar.gz"),
])
def test_a_bad_archive_is_refused_with_one_line_and_nothing_is_installed(tiny_qa, models_dir, tmp_path, case,
                                                                          words):
    files = _model_files(tiny_qa)
    if case == "escapes":
        archive = _tar_with(tmp_path / "bad.tar.gz", {**files, "../../evil.txt": b"x"})
    elif case == "pickle":
        archive = _tar_with(tmp_path / "bad.tar.gz", {**files, "pytorch_model.bin": b"pickle"})
    elif case == "no-safetensors":
        files.pop("model.safetensors")
        archive = _tar_with(tmp_path / "bad.tar.gz", files)
    elif case == "wrong-architecture":
        clip = tinymodels.build_tiny_clip(tmp_path / "clip")  # an image model: it cannot answer questions
        archive = _tar_with(tmp_path / "bad.tar.gz", _model_files(clip))
    else:
        archive = tmp_path / "model.rar"
        archive.write_bytes(b"Rar!")
    with pytest.raises(CommandError) as exc:
        _import(MODEL, archive)
    message = str(exc.value)
    assert words in message and "\n" not in message
    assert _installed_nothing(models_dir)
    assert not catalog_get(MODEL).installed
    assert not (tmp_path.parent / "evil.txt").exists()


def test_a_folder_with_a_link_is_refused(tiny_qa, models_dir, tmp_path):
    folder = tmp_path / "linked"
    shutil.copytree(tiny_qa, folder)
    (folder / "secrets").symlink_to("/etc/passwd")
    with pytest.raises(CommandError, match="'secrets' is a symbolic link"):
        _import(MODEL, folder)
    assert not catalog_get(MODEL).installed


def test_import_and_export_of_what_cannot_be(tiny_qa, models_dir, tmp_path):
    with pytest.raises(CommandError, match="bundled model"):
        _import("smollm2-135m-instruct", tiny_qa)
    with pytest.raises(CommandError, match=f"{MODEL} is not installed here"):
        call_command("models", "export", MODEL, str(tmp_path / "x.tar.gz"), stdout=StringIO())
    _import(MODEL, tiny_qa)
    with pytest.raises(CommandError, match="already installed"):
        _import(MODEL, tiny_qa)
    zipfile.ZipFile(tmp_path / "taken.zip", "w").close()
    with pytest.raises(CommandError, match="exists; choose another name"):
        call_command("models", "export", MODEL, str(tmp_path / "taken.zip"), stdout=StringIO())
