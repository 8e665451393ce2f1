"""Writes for uploaded models on the web side: create, enqueue the build, delete.

The web process only checks the request, saves the uploaded file and enqueues
``build_uploaded_model`` on the ``fp.model.uploads`` queue; unpacking and
loading happen on a worker (``inference.uploads.build``).
"""

from __future__ import annotations

import re
import shutil

from celery import current_app
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from ..catalog import catalog_get
from ..errors import Forbidden, InvalidInput, TooLarge
from ..models import BuildStatus, ModelVersion, UploadedModel
from ..registry import kind_get
from .archive import KIND_FAMILIES, PICKLE_HINT, archive_format, is_pickle_name
from .paths import folder_remove_if_empty, model_folder, upload_file_path
from .selectors import UPLOADS_QUEUE_GROUP

NAME_PATTERN = re.compile(r"^[a-z0-9_-]{3,100}$")
UPLOADS_QUEUE = f"fp.model.{UPLOADS_QUEUE_GROUP}"
# The Celery task that builds a version (``inference/tasks.py``), sent by name: the task module sits above this one.
BUILD_UPLOADED_MODEL = "inference.tasks.build_uploaded_model"


def model_upload_create(*, user: AbstractBaseUser, name: str, task_kind: str, description: str,
                        file: UploadedFile) -> ModelVersion:
    """Check an upload, save its file and enqueue its build; returns the new version (``building``).

    Uploading a name again makes a new version; the previous ready one keeps
    serving until this one is ready. Raises an ``ApiError`` naming the bad form field.
    """
    name = (name or "").strip()
    if not NAME_PATTERN.match(name):
        raise InvalidInput.for_field("invalid", "name", "3 to 100 characters of a-z, 0-9, _ and -.")
    if catalog_get(name) is not None:
        raise InvalidInput.for_field("invalid", "name", f"'{name}' is the id of a catalog model; choose another name.")
    kind = kind_get(task_kind or "")
    if kind is None or kind.internal or task_kind not in KIND_FAMILIES:
        raise InvalidInput.for_field("invalid", "task", f"one of {', '.join(KIND_FAMILIES)}.")
    if file is None:
        raise InvalidInput.for_field("invalid", "file", "this field is required.")
    if is_pickle_name(file.name or ""):
        raise InvalidInput.for_field("invalid", "file", PICKLE_HINT)
    file_format = archive_format(file.name or "")
    if file_format is None:
        raise InvalidInput.for_field("invalid", "file",
                                     "a .zip or .tar.gz of a transformers model folder, or a single .gguf file.")
    if file_format == "gguf" and task_kind != "text-generation":
        raise InvalidInput.for_field("invalid", "file", "a .gguf file can only serve text-generation.")
    if file.size > settings.UPLOAD_MAX_BYTES:
        raise TooLarge.for_field("payload_too_large", "file",
                                 f"at most {settings.UPLOAD_MAX_BYTES:,} bytes (got {file.size:,}).")
    _storage_quota_check(user=user, size=file.size)

    with transaction.atomic():
        model, _ = UploadedModel.objects.select_for_update().get_or_create(
            owner=user, name=name, defaults={"task_kind": task_kind, "description": description or ""})
        model.task_kind = task_kind
        if description:
            model.description = description
        model.save(update_fields=["task_kind", "description"])
        last = model.versions.order_by("-number").values_list("number", flat=True).first() or 0
        version = ModelVersion.objects.create(model=model, number=last + 1, task_kind=task_kind,
                                              file_name=(file.name or "")[:255], file_format=file_format,
                                              size_bytes=file.size, build_enqueued_at=timezone.now())
        target = upload_file_path(owner_id=user.pk, name=name, number=version.number, file_format=file_format)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as out:
            for chunk in file.chunks():
                out.write(chunk)
        build_enqueue(version, stamped=True)
    return version


def _storage_quota_check(*, user: AbstractBaseUser, size: int) -> None:
    """Refuse (``Forbidden``) an upload that would take the user's stored versions past ``UPLOAD_STORAGE_QUOTA_BYTES``.

    Building and ready versions hold files (a failed one leaves none); a new version of a name counts
    beside the one it replaces, which is kept until the new one is ready.
    """
    quota = settings.UPLOAD_STORAGE_QUOTA_BYTES
    if not quota:
        return
    used = (ModelVersion.objects.filter(model__owner=user).exclude(build_status=BuildStatus.FAILED)
            .aggregate(total=Sum("size_bytes"))["total"] or 0)
    if used + size > quota:
        raise Forbidden.for_field(
            "storage_quota_exceeded", "file",
            f"this file ({size:,} bytes) does not fit in your storage quota of {quota:,} bytes: your models "
            f"use {used:,} bytes. Delete a model to make room.")


def build_enqueue(version: ModelVersion, *, stamped: bool = False) -> None:
    """Send the version's build message once the current transaction commits, and note when.

    ``stamped``: the row's ``build_enqueued_at`` is already set (a new version), saving a write.
    """
    if not stamped:
        version.build_enqueued_at = timezone.now()
        ModelVersion.objects.filter(id=version.id).update(build_enqueued_at=version.build_enqueued_at)
    current_app.tasks[BUILD_UPLOADED_MODEL].apply_async_on_commit(args=(version.id,), queue=UPLOADS_QUEUE)


def model_upload_delete(*, user: AbstractBaseUser, name: str) -> None:
    """Remove one of ``user``'s models: every version's files and rows.

    Raises ``UploadedModel.DoesNotExist`` for a name the user does not own.
    """
    model = UploadedModel.objects.get(owner=user, name=name)
    folder = model_folder(owner_id=user.pk, name=name)
    model.delete()
    shutil.rmtree(folder, ignore_errors=True)
    folder_remove_if_empty(folder.parent)
