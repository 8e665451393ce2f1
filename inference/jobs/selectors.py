"""Reads for the inference layer: resolving models (the catalog's and users' own), listing jobs."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from ..catalog import UPLOAD_KEY_PREFIX, ModelSpec, catalog_get, catalog_models
from ..kinds.base import IMAGE
from ..models import InferenceJob
from ..registry import kind_get
from ..runtime.running import heartbeat_stale_before
from ..uploads.selectors import uploaded_spec, uploaded_spec_by_key, uploaded_specs
from .statements import jobs_in_flight_counts


def model_resolve(*, model_id: str, user: AbstractBaseUser | None, include_unready: bool = False) -> ModelSpec | None:
    """A catalog model, or one of ``user``'s own uploaded models; None if neither.

    Another user's uploaded model resolves to None, exactly like an unknown id.
    """
    if "\x00" in model_id:  # never a model id; PostgreSQL refuses NUL in a query
        return None
    spec = catalog_get(model_id)
    if spec is not None:
        return spec
    return uploaded_spec(model_id=model_id, user=user, include_unready=include_unready)


def model_resolve_key(*, key: str, owner_id: int) -> ModelSpec | None:
    """The exact model a job recorded (``InferenceJob.model_key``), for that job's own owner."""
    if key.startswith(UPLOAD_KEY_PREFIX):
        return uploaded_spec_by_key(key=key, owner_id=owner_id)
    return catalog_get(key)


def jobs_in_flight(*, user: AbstractBaseUser) -> int:
    """The user's jobs that hold a worker or a place in a queue: queued, running, and cancelled while
    running until their worker lets go of them (while its heartbeat is fresh)."""
    return jobs_in_flight_counts(owner_ids=[user.pk], stale_before=heartbeat_stale_before())[user.pk]


def model_list(*, user: AbstractBaseUser | None, kind: str | None = None) -> list[ModelSpec]:
    """The catalog (installed or not) plus the user's ready uploaded models."""
    specs = [s for s in catalog_models() if not s.internal]
    if user is not None:
        specs += uploaded_specs(user=user)
    if kind:
        specs = [s for s in specs if kind in s.kinds]
    return specs


def job_list(*, user: AbstractBaseUser, status: str | None = None,
             task_kind: str | None = None) -> QuerySet[InferenceJob]:
    jobs = InferenceJob.objects.filter(owner=user)
    if "\x00" in (status or "") + (task_kind or ""):
        return jobs.none()
    if status:
        jobs = jobs.filter(status=status)
    if task_kind:
        jobs = jobs.filter(task_kind=task_kind)
    return jobs.order_by("-created_at")


def job_get(*, user: AbstractBaseUser, job_id) -> InferenceJob:
    """One of ``user``'s jobs; another user's job is DoesNotExist (a 404)."""
    return InferenceJob.objects.get(owner=user, id=job_id)


def job_input_shown(job: InferenceJob) -> dict[str, Any] | None:
    """A job's input as the API and the admin show it: images as ``<image, N bytes>``; None once purged."""
    if job.data_purged_at is not None:
        return None
    kind = kind_get(job.task_kind)
    if kind is None:
        return job.input
    images = {p.name for p in kind.params if p.type == IMAGE}

    def short(value: Any) -> Any:
        if isinstance(value, list):
            return [short(v) for v in value]
        return f"<image, {len(value) * 3 // 4:,} bytes>" if isinstance(value, str) else value

    return {k: short(v) if k in images else v for k, v in job.input.items()}
