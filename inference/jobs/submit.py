"""Accepting a job: validate, record, enqueue (the web side of ``inference.jobs``)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import redis
from celery import current_app
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from ..catalog import ModelSpec
from ..errors import Conflict, InvalidInput, LimitReached, NotFound
from ..inputs.tokens import token_counter
from ..kinds.base import InputError, TaskKind
from ..models import InferenceJob, JobStatus
from ..registry import kind_get
from .routing import job_route
from .selectors import jobs_in_flight, model_resolve, model_resolve_key

# The Celery task that runs a job (``inference/tasks.py``), sent by name: the task module sits above this one.
RUN_JOB = "inference.tasks.run_job"


def job_prepare(*, user: AbstractBaseUser, kind_name: str, model_id: str | None,
                data: dict[str, Any], allow_internal: bool = False) -> tuple[TaskKind, ModelSpec, dict[str, Any]]:
    """Validate a request before anything is queued: kind, model, every input bound.

    Raises an ``ApiError`` (unknown kind or model: ``NotFound``; model not
    installed: ``Conflict``; input out of bounds: ``InvalidInput`` naming the
    field and the bound).
    """
    kind = kind_get(kind_name)
    if kind is None or (kind.internal and not allow_internal):
        raise NotFound("unknown_task_kind", f"Unknown task kind '{kind_name}'.")
    model_id = model_id or kind.default_model
    spec = model_resolve(model_id=model_id, user=user)
    if spec is None or (spec.internal and not allow_internal):
        raise NotFound("unknown_model", f"Unknown model '{model_id}'.", field="model")
    if kind.name not in spec.kinds:
        raise InvalidInput("invalid", f"model: '{model_id}' does not serve {kind.name} "
                           f"(it serves {', '.join(spec.kinds)}).", field="model")
    if not spec.installed:
        raise Conflict("model_not_installed", f"Model '{model_id}' is in the catalog but not installed. "
                       f"{spec.install_hint}", field="model")
    try:
        cleaned = kind.clean(data, count_tokens=token_counter(spec.tokenizer_folder, spec.revision))
    except InputError as exc:
        raise InvalidInput("invalid", str(exc), field=exc.field) from exc
    return kind, spec, cleaned


def job_submit(*, user: AbstractBaseUser, api_key: Any | None, kind_name: str, model_id: str | None,
               data: dict[str, Any], allow_internal: bool = False, max_in_flight: int | None = None,
               job_id: UUID | None = None, reply_to: str = "") -> InferenceJob:
    """Validate and record a job, then enqueue its Celery task once the row is committed.

    ``max_in_flight`` caps the user's queued and running jobs; the check and
    the insert happen under a lock on the user's row, so concurrent requests
    cannot both slip under the cap. ``job_id``: the new job's id, when the
    caller listens for its events before submitting (the API does). ``reply_to``: the channel of the
    waiting web process, which gets the job's done message too (``api.waiting``).
    """
    kind, spec, cleaned = job_prepare(user=user, kind_name=kind_name, model_id=model_id, data=data,
                                      allow_internal=allow_internal)
    job: InferenceJob | None = None
    try:
        with transaction.atomic():
            job = _job_record(user=user, api_key=api_key, kind=kind, spec=spec, cleaned=cleaned,
                              max_in_flight=max_in_flight, job_id=job_id, reply_to=reply_to)
    except BROKER_ERRORS:
        # The row is committed but its message was not sent: the job ends now, failed with a reason,
        # so it never runs later (the sweeper would re-send it) behind the 503 its request gets.
        if job is not None:
            now = timezone.now()
            InferenceJob.objects.filter(id=job.id, status=JobStatus.QUEUED).update(
                status=JobStatus.FAILED, finished_at=now, released_at=now,
                error="The job could not be queued (the broker did not answer); it will not run.")
        raise
    return job


def _job_record(*, user: AbstractBaseUser, api_key: Any | None, kind: TaskKind, spec: ModelSpec,
                cleaned: dict[str, Any], max_in_flight: int | None, job_id: UUID | None,
                reply_to: str = "") -> InferenceJob:
    """Inside the submit's transaction: the in-flight cap, the row, and its message on commit."""
    if max_in_flight is not None:
        if connection.features.has_select_for_update:  # SQLite: BEGIN IMMEDIATE serializes writers already
            get_user_model().objects.select_for_update().filter(pk=user.pk).first()
        in_flight = jobs_in_flight(user=user)
        if in_flight >= max_in_flight:
            raise LimitReached("too_many_jobs", f"You have {in_flight} jobs queued or running, the most "
                               f"allowed at once is {max_in_flight}; wait for some to finish.", retry_after=1)
    given_id = {"id": job_id} if job_id is not None else {}
    job = InferenceJob.objects.create(**given_id, owner=user, api_key=api_key, task_kind=kind.name,
                                      model_id=spec.id, model_key=spec.key, input=cleaned,
                                      enqueued_at=timezone.now(), reply_to=reply_to)
    job_enqueue(job=job, spec=spec, stamped=True)
    return job


BROKER_ERRORS: tuple[type[BaseException], ...] = (OperationalError, redis.RedisError)


def job_enqueue(*, job: InferenceJob, spec: ModelSpec | None = None, stamped: bool = False) -> None:
    """Send the job's Celery task to its model's queue after the current transaction commits.

    ``stamped``: the row's ``enqueued_at`` is already set (a new job), saving a write.
    """
    if not stamped:
        InferenceJob.objects.filter(id=job.id).update(enqueued_at=timezone.now())
    if spec is None:
        spec = (model_resolve_key(key=job.model_key, owner_id=job.owner_id) if job.model_key
                else model_resolve(model_id=job.model_id, user=job.owner, include_unready=True))
    # A model deleted while its job waited: any worker fails it with a reason.
    queue = spec.queue if spec is not None else "fp.default"
    route = job_route(model_key=job.model_identity, task_kind=job.task_kind, cleaned=job.input)
    current_app.tasks[RUN_JOB].apply_async_on_commit(args=(str(job.id), route), queue=queue)
