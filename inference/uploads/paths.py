"""Where an uploaded model's files lie: ``MEDIA_ROOT/models/<user id>/<name>/v<number>``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings

from .archive import GGUF_FILE

if TYPE_CHECKING:  # the catalog's specs import these paths before Django's models may be imported
    from ..models import ModelVersion


def model_cache_dir(path: str | Path) -> Path:
    """Where one-off conversions of the model at ``path`` are kept (a GGUF file's safetensors folder).

    An uploaded model's go in its version folder, so they leave with the version
    (superseded by a new one, or deleted); every other model's in ``MODEL_CACHE_DIR``.
    """
    root = (Path(settings.MEDIA_ROOT) / "models").resolve()
    try:
        owner, name, version = Path(path).resolve().relative_to(root).parts[:3]
    except ValueError:  # outside the uploads, or not inside a version folder
        return Path(settings.MODEL_CACHE_DIR)
    return root / owner / name / version


def model_folder(*, owner_id: int, name: str) -> Path:
    """Every file of one uploaded model, all versions: ``MEDIA_ROOT/models/<user id>/<name>``."""
    return Path(settings.MEDIA_ROOT) / "models" / str(owner_id) / name


def version_folder(*, owner_id: int, name: str, number: int) -> Path:
    """The unpacked files of one version."""
    return model_folder(owner_id=owner_id, name=name) / f"v{number}"


def upload_file_path(*, owner_id: int, name: str, number: int, file_format: str) -> Path:
    """Where the web process saves the uploaded file until the worker has built it."""
    return model_folder(owner_id=owner_id, name=name) / f"v{number}.upload.{file_format}"


def version_model_path(version: ModelVersion) -> Path:
    """The path a backend loads: the version's folder, or its .gguf file."""
    folder = version_folder(owner_id=version.model.owner_id, name=version.model.name, number=version.number)
    return folder / GGUF_FILE if version.file_format == "gguf" else folder


def version_revision(version: ModelVersion) -> str:
    """The spec's revision: unique across users and re-uploads (the worker cache is keyed by id and revision)."""
    return f"{version.number}.{version.pk}"


def folder_remove_if_empty(folder: Path) -> None:
    """Removes ``folder`` and then its parent when they hold nothing."""
    for candidate in (folder, folder.parent):
        try:
            candidate.rmdir()
        except OSError:
            return
