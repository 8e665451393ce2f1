"""Builds whose message or worker was lost end ready or failed with a reason, never "building" for ever."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from inference.models import BuildStatus, ModelVersion, UploadedModel
from inference.uploads import build as upload_build
from inference.uploads.paths import upload_file_path, version_folder

from .conftest import files_under, wait_for_build, zip_folder

pytestmark = pytest.mark.django_db(transaction=True)


NOTHING_TO_DO = {"retried": 0, "failed": 0, "resent": 0, "expired": 0, "superseded_removed": 0}

def left_building(user, tiny_models, *, name: str = "orphan", started_ago: float | None = None,
                  attempts: int = 0) -> ModelVersion:
    """A version as an upload leaves it, with its file saved, whose build message is gone.

    ``started_ago``: its build was claimed that many seconds ago by a worker that then died.
    """
    model = UploadedModel.objects.create(owner=user, name=name, task_kind="emotion")
    version = ModelVersion.objects.create(model=model, number=1, task_kind="emotion", file_name="m.zip",
                                          file_format="zip", build_attempts=attempts)
    content = zip_folder(Path(tiny_models["tiny-emotion"]["path"]))
    path = upload_file_path(owner_id=user.pk, name=name, number=1, file_format="zip")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    if started_ago is not None:
        started = timezone.now() - timedelta(seconds=started_ago)
        ModelVersion.objects.filter(id=version.id).update(build_started_at=started, build_enqueued_at=started)
    version.refresh_from_db()
    return version


def test_a_build_whose_worker_died_is_built_again(celery_worker, tiny_models, user, settings):
    version = left_building(user, tiny_models, started_ago=settings.JOB_HEARTBEAT_STALE_S + 60,
                            attempts=1)
    assert upload_build.model_builds_sweep()["retried"] == 1

    version = wait_for_build(user, "orphan")
    assert version.build_status == BuildStatus.READY, version.build_message
    assert version.build_attempts == 2
    assert upload_build.model_builds_sweep() == NOTHING_TO_DO


def test_a_build_that_keeps_dying_fails_with_its_reason_and_leaves_nothing(tiny_models, user, settings):
    version = left_building(user, tiny_models, started_ago=settings.JOB_HEARTBEAT_STALE_S + 60,
                            attempts=settings.UPLOAD_BUILD_MAX_ATTEMPTS)
    version_folder(owner_id=user.pk, name="orphan", number=1).mkdir(parents=True)  # a half-unpacked build
    assert upload_build.model_builds_sweep()["failed"] == 1

    version.refresh_from_db()
    assert version.build_status == BuildStatus.FAILED
    assert f"stopped {settings.UPLOAD_BUILD_MAX_ATTEMPTS} times" in version.build_message
    assert files_under(user, "orphan") == []


def test_a_lost_build_message_is_sent_again(celery_worker, tiny_models, user, settings):
    left_building(user, tiny_models)
    settings.UPLOAD_BUILD_RESEND_AFTER_S = 0
    time.sleep(0.01)
    assert upload_build.model_builds_sweep()["resent"] == 1

    version = wait_for_build(user, "orphan")
    assert version.build_status == BuildStatus.READY, version.build_message
    assert version.build_attempts == 1


def test_a_build_no_worker_took_fails_with_its_reason(tiny_models, user, settings):
    version = left_building(user, tiny_models)
    settings.UPLOAD_BUILD_QUEUED_TIMEOUT_S = 0
    time.sleep(0.01)
    assert upload_build.model_builds_sweep()["expired"] == 1

    version.refresh_from_db()
    assert version.build_status == BuildStatus.FAILED
    assert "No worker took the build" in version.build_message
    assert files_under(user, "orphan") == []


def test_a_second_delivery_of_a_build_message_leaves_the_running_build_alone(tiny_models, user, settings):
    version = left_building(user, tiny_models, started_ago=1, attempts=1)

    assert upload_build.model_upload_build(version_id=version.id) is None
    again = ModelVersion.objects.get(id=version.id)
    assert (again.build_status, again.build_attempts, again.build_started_at) == (
        BuildStatus.BUILDING, 1, version.build_started_at)
    assert not version_folder(owner_id=user.pk, name="orphan", number=1).exists()
    # Not stale yet: the sweeper leaves it to the worker building it.
    assert upload_build.model_builds_sweep() == NOTHING_TO_DO
