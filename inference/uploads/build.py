"""Building an uploaded model on a worker: unpack, check, try it, and sweep builds that were lost.

A build is claimed like a job (``build_started_at``), so a message delivered
twice builds once, and ``model_builds_sweep`` rescues builds whose message or
worker was lost: every version ends ready or failed with a reason. A version
is ready once its archive passed the checks (``archive``) and the task kind's
example input ran through it, loaded as a worker loads it.
"""

from __future__ import annotations

import base64
import io
import logging
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from PIL import Image

from ..catalog import ModelSpec
from ..kinds.base import IMAGE
from ..models import ACTIVE_STATUSES, BuildStatus, InferenceJob, ModelVersion, UploadedModel
from ..registry import FOLDER_UPLOADS, kind_families, kind_get
from ..runtime.running import build_tracked, heartbeat_stale_before
from .archive import UploadInvalid, check_folder, unpack_upload
from .paths import (
    folder_remove_if_empty,
    model_cache_dir,
    model_folder,
    upload_file_path,
    version_folder,
    version_model_path,
)
from .services import build_enqueue

logger = logging.getLogger(__name__)


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
        family = _upload_family(path, version)
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


def _upload_family(path: Path, version: ModelVersion) -> str:
    """The family of an unpacked upload: a folder's config says it; a single file's format names it (GGUF:
    the family declaring that upload format, ``inference/registry.py``)."""
    if version.file_format in FOLDER_UPLOADS:
        return check_folder(path, version.task_kind)
    kind = kind_get(version.task_kind)
    families = kind_families(kind, file_format=version.file_format) if kind is not None else ()
    if not families:
        raise UploadInvalid(f"A .{version.file_format} file cannot serve the task kind {version.task_kind}.")
    return families[0]


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
            folder_remove_if_empty(model_folder(owner_id=model.owner_id, name=model.name))
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
                build_enqueue(version)
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
            build_enqueue(version)
        counts["resent"] += 1
    # Versions kept after a newer one became ready, for the jobs accepted for them, once those have ended.
    superseded = UploadedModel.objects.filter(versions__build_status=BuildStatus.READY).annotate(
        kept=Count("versions")).filter(kept__gt=1)
    counts["superseded_removed"] = sum(superseded_versions_remove(model=model) for model in superseded)
    return counts


def example_input(kind_name: str) -> dict[str, Any]:
    """The task kind's example input, with a small generated image for image kinds."""
    kind = kind_get(kind_name)
    data = dict(kind.example)
    for param in kind.params:
        if param.type == IMAGE and param.name in data:
            buffer = io.BytesIO()
            Image.new("RGB", (32, 32), (200, 120, 40)).save(buffer, format="PNG")
            data[param.name] = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    return data


def run_example(*, model_id: str, path: Path, family: str, kind_name: str, options: dict[str, Any],
                cache_dir: Path) -> None:
    """Load the model as a worker would and run the kind's example input through it."""
    # Lazily: the model cache and the backends import torch; this module is imported by the web's admin.
    from ..backends.base import LoadTarget
    from ..runtime.loading import backend_load, device_and_dtype

    kind = kind_get(kind_name)
    device, dtype = device_and_dtype(family)
    try:
        backend = backend_load(family, LoadTarget(model_id=model_id, path=path, device=device, dtype=dtype,
                                                  options=options, cache_dir=cache_dir))
    except Exception as exc:  # noqa: BLE001
        raise UploadInvalid(f"The model could not be loaded: {exc}") from exc
    if kind.operation not in backend.operations:
        raise UploadInvalid(f"A {family} model cannot do {kind_name}.")
    try:
        result = kind.run(backend, [kind.clean(example_input(kind_name))])[0]
    except Exception as exc:  # noqa: BLE001
        raise UploadInvalid(f"The model failed on the example input of {kind_name}: {exc}") from exc
    if result.error:
        raise UploadInvalid(f"The model failed on the example input of {kind_name}: {result.error}")
