"""Writes for uploaded models: create (web), build (worker), delete.

The web process only checks the request, saves the uploaded file and enqueues
``build_uploaded_model`` on the ``fp.model.uploads`` queue; unpacking and
loading happen on a worker (``model_upload_build``). A build is claimed like a
job (``build_started_at``), so a message delivered twice builds once, and
``model_builds_sweep`` rescues builds whose message or worker was lost: every
version ends ready or failed with a reason.
"""

from __future__ import annotations

import logging
import re
import shutil
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from ..catalog import ModelSpec, catalog_get
from ..errors import Forbidden, InvalidInput, TooLarge
from ..models import ACTIVE_STATUSES, BuildStatus, InferenceJob, ModelVersion, UploadedModel
from ..registry import kind_get
from ..running import build_tracked, heartbeat_stale_before
from ..upload_validation import (
    KIND_FAMILIES,
    PICKLE_HINT,
    UploadInvalid,
    archive_format,
    check_folder,
    is_pickle_name,
    run_example,
    unpack_upload,
)
from ..uploads import (
    UPLOADS_QUEUE_GROUP,
    model_cache_dir,
    model_folder,
    upload_file_path,
    version_folder,
    version_model_path,
)

logger = logging.getLogger(__name__)

NAME_PATTERN = re.compile(r"^[a-z0-9_-]{3,100}$")
UPLOADS_QUEUE = f"fp.model.{UPLOADS_QUEUE_GROUP}"


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
        _build_enqueue(version, stamped=True)
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


def _build_enqueue(version: ModelVersion, *, stamped: bool = False) -> None:
    """Send the version's build message once the current transaction commits, and note when.

    ``stamped``: the row's ``build_enqueued_at`` is already set (a new version), saving a write.
    """
    from ..tasks import build_uploaded_model

    if not stamped:
        version.build_enqueued_at = timezone.now()
        ModelVersion.objects.filter(id=version.id).update(build_enqueued_at=version.build_enqueued_at)
    build_uploaded_model.apply_async_on_commit(args=(version.id,), queue=UPLOADS_QUEUE)


def model_upload_build(*, version_id: int) -> ModelVersion | None:
    """Unpack, check and try a version (worker side); it ends ``ready`` or ``failed`` with a message.

    A failed version leaves no files behind. A ready one supersedes older
    versions, whose rows and files are removed. None when the version is
    gone (deleted meanwhile), was built already, or is being built by another
    delivery of its message.
    """
    started = timezone.now()
    claimed = ModelVersion.objects.filter(id=version_id, build_status=BuildStatus.BUILDING,
                                          build_started_at__isnull=True).update(
        build_started_at=started, build_heartbeat_at=started, build_attempts=F("build_attempts") + 1)
    version = ModelVersion.objects.select_related("model").filter(id=version_id).first() if claimed else None
    if version is None:
        return None
    with build_tracked(version.id, started):  # heartbeats while it builds: the sweeper leaves it alone
        return _build(version, started)


def _build(version: ModelVersion, started: datetime) -> ModelVersion | None:
    model = version.model
    upload = upload_file_path(owner_id=model.owner_id, name=model.name, number=version.number,
                              file_format=version.file_format)
    folder = version_folder(owner_id=model.owner_id, name=model.name, number=version.number)
    try:
        if not upload.exists():
            raise UploadInvalid("The uploaded file is missing on the server; upload it again.")
        if folder.exists():
            shutil.rmtree(folder)
        path = unpack_upload(upload=upload, file_format=version.file_format, dest=folder,
                             max_files=settings.UPLOAD_MAX_FILES, max_unpacked=settings.UPLOAD_MAX_UNPACKED_BYTES)
        family = "causal-lm" if version.file_format == "gguf" else check_folder(path, version.task_kind)
        run_example(model_id=model.name, path=version_model_path(version), family=family,
                    kind_name=version.task_kind, options={}, cache_dir=model_cache_dir(folder))
    except Exception as exc:  # every failure is the version's outcome, told to its owner
        if not isinstance(exc, UploadInvalid):
            logger.exception("building uploaded model %s v%s failed", model.name, version.number)
        message = str(exc) if isinstance(exc, UploadInvalid) else f"The build failed: {exc}"
        if not _build_fail(version, message, claimed_at=started):
            _build_superseded(version, folder)
            return None
        version.refresh_from_db()
        return version
    updated = ModelVersion.objects.filter(id=version.id, build_status=BuildStatus.BUILDING,
                                          build_started_at=started).update(
        build_status=BuildStatus.READY, family=family, built_at=timezone.now(),
        build_message=f"Ready: a {family} model serving {version.task_kind}.")
    if not updated:
        _build_superseded(version, folder)
        return None
    upload.unlink(missing_ok=True)
    superseded_versions_remove(model=model)
    version.refresh_from_db()
    return version


def superseded_versions_remove(*, model: UploadedModel) -> int:
    """Remove the versions older than the newest ready one, rows and files, except those that queued or
    running jobs were accepted for (a job runs on the exact version it was accepted for); the sweeper
    removes those once their jobs have ended. Returns how many went."""
    serving = model.versions.filter(build_status=BuildStatus.READY).order_by("-number").first()
    if serving is None:
        return 0
    removed = 0
    for older in ModelVersion.objects.filter(model=model, number__lt=serving.number):
        if InferenceJob.objects.filter(model_key=ModelSpec.upload_key(older.pk), status__in=ACTIVE_STATUSES).exists():
            continue
        shutil.rmtree(version_folder(owner_id=model.owner_id, name=model.name, number=older.number),
                      ignore_errors=True)
        older.delete()
        removed += 1
    return removed


def _build_superseded(version: ModelVersion, folder: Path) -> None:
    """A build whose outcome was not recorded: the version was deleted meanwhile (its files go), or the
    sweeper handed it to a later attempt (which owns the files now)."""
    if not ModelVersion.objects.filter(id=version.id).exists():
        shutil.rmtree(folder, ignore_errors=True)


def _build_fail(version: ModelVersion, message: str, *, claimed_at: datetime | None = None) -> bool:
    """End a build as failed with ``message`` and remove its files; False when the row had moved on.

    ``claimed_at``: only while the build is still under this claim (None: only while unclaimed).
    """
    # One transaction: the failed status is seen only once the files are gone.
    with transaction.atomic():
        updated = ModelVersion.objects.filter(id=version.id, build_status=BuildStatus.BUILDING,
                                              build_started_at=claimed_at).update(
            build_status=BuildStatus.FAILED, build_message=message, built_at=timezone.now())
        if updated:
            model = version.model
            shutil.rmtree(version_folder(owner_id=model.owner_id, name=model.name, number=version.number),
                          ignore_errors=True)
            upload_file_path(owner_id=model.owner_id, name=model.name, number=version.number,
                             file_format=version.file_format).unlink(missing_ok=True)
            _remove_if_empty(model_folder(owner_id=model.owner_id, name=model.name))
    return bool(updated)


def model_builds_sweep() -> dict[str, int]:
    """Rescue builds nobody is running any more; run periodically by Celery beat.

    - started longer ago than the hard time limit (its worker died): built
      again, or failed with a reason after ``UPLOAD_BUILD_MAX_ATTEMPTS``;
    - never started after ``UPLOAD_BUILD_QUEUED_TIMEOUT_S`` (no worker
      consumes ``fp.model.uploads``): failed with a reason;
    - never started and its message unanswered for ``UPLOAD_BUILD_RESEND_AFTER_S``
      (lost with a Redis that kept nothing on disk, say): the message is sent
      again. Harmless if the first is still queued: only one delivery claims it.
    """
    now = timezone.now()
    counts = {"retried": 0, "failed": 0, "resent": 0, "expired": 0}
    building = ModelVersion.objects.select_related("model").filter(build_status=BuildStatus.BUILDING)
    stale_before = heartbeat_stale_before(now)
    for version in building.filter(Q(build_heartbeat_at__lt=stale_before)
                                   | Q(build_heartbeat_at__isnull=True, build_started_at__lt=stale_before)):
        if version.build_attempts >= settings.UPLOAD_BUILD_MAX_ATTEMPTS:
            counts["failed"] += _build_fail(
                version, f"The build stopped {version.build_attempts} times before it finished (the worker "
                         "building it stopped or ran out of memory); upload the model again.",
                claimed_at=version.build_started_at)
            continue
        with transaction.atomic():
            if ModelVersion.objects.filter(id=version.id, build_status=BuildStatus.BUILDING,
                                           build_started_at=version.build_started_at).update(
                                               build_started_at=None, build_heartbeat_at=None):
                _build_enqueue(version)
                counts["retried"] += 1
    waiting = building.filter(build_started_at__isnull=True)
    expire_before = now - timedelta(seconds=settings.UPLOAD_BUILD_QUEUED_TIMEOUT_S)
    for version in waiting.filter(created_at__lt=expire_before):
        counts["expired"] += _build_fail(
            version, f"No worker took the build within {settings.UPLOAD_BUILD_QUEUED_TIMEOUT_S} s; is a worker "
                     "consuming the fp.model.uploads queue? Upload the model again.")
    resend_before = now - timedelta(seconds=settings.UPLOAD_BUILD_RESEND_AFTER_S)
    for version in waiting.filter(Q(build_enqueued_at__lt=resend_before) | Q(build_enqueued_at__isnull=True),
                                  created_at__lt=resend_before):
        with transaction.atomic():
            _build_enqueue(version)
        counts["resent"] += 1
    # Versions kept after a newer one became ready, for the jobs accepted for them, once those have ended.
    superseded = UploadedModel.objects.filter(versions__build_status=BuildStatus.READY).annotate(
        kept=Count("versions")).filter(kept__gt=1)
    counts["superseded_removed"] = sum(superseded_versions_remove(model=model) for model in superseded)
    return counts


def _remove_if_empty(folder: Path) -> None:
    """Removes ``folder`` and then its parent when they hold nothing."""
    for candidate in (folder, folder.parent):
        try:
            candidate.rmdir()
        except OSError:
            return


def model_upload_delete(*, user: AbstractBaseUser, name: str) -> None:
    """Remove one of ``user``'s models: every version's files and rows.

    Raises ``UploadedModel.DoesNotExist`` for a name the user does not own.
    """
    model = UploadedModel.objects.get(owner=user, name=name)
    folder = model_folder(owner_id=user.pk, name=name)
    model.delete()
    shutil.rmtree(folder, ignore_errors=True)
    _remove_if_empty(folder.parent)
