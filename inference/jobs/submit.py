"""Accepting jobs: validate, record, enqueue (the web side of ``inference.jobs``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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
from ..errors import ApiError, Conflict, InvalidInput, LimitReached, NotFound
from ..inputs.tokens import token_counter
from ..kinds.base import InputError, TaskKind
from ..models import InferenceJob, JobStatus
from ..registry import kind_get
from ..runtime.running import heartbeat_stale_before
from .routing import job_route
from .selectors import model_resolve, model_resolve_key
from .statements import jobs_in_flight_counts, jobs_insert

# The Celery tasks that run a job, or several (``inference/tasks.py``), sent by name: the task module sits
# above this one.
RUN_JOB = "inference.tasks.run_job"
RUN_JOBS = "inference.tasks.run_jobs"


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


@dataclass
class JobRequest:
    """One job to submit (``jobs_submit``): who asks, for what, with which inputs."""

    user: AbstractBaseUser
    api_key: Any | None
    kind_name: str
    model_id: str | None
    data: dict[str, Any]
    job_id: UUID | None = None  # when the caller listens for the job's events before submitting (the API does)
    reply_to: str = ""  # the waiting web process's channel: the job's done message goes there too
    allow_internal: bool = False


def job_submit(*, user: AbstractBaseUser, api_key: Any | None, kind_name: str, model_id: str | None,
               data: dict[str, Any], allow_internal: bool = False, max_in_flight: int | None = None,
               job_id: UUID | None = None, reply_to: str = "") -> InferenceJob:
    """Validate and record a job, then enqueue its Celery task once the row is committed.

    ``max_in_flight`` caps the user's queued and running jobs; the check and
    the insert happen under a lock on the user's row, so concurrent requests
    cannot both slip under the cap. ``job_id``: the new job's id, when the
    caller listens for its events before submitting (the API does). ``reply_to``: the channel of the
    waiting web process, which gets the job's done message too (``api.waiting``). Raises the
    ``ApiError`` of a refused job, or the broker's error (``jobs_submit``).
    """
    [outcome] = jobs_submit(requests=[JobRequest(user=user, api_key=api_key, kind_name=kind_name,
                                                 model_id=model_id, data=data, job_id=job_id, reply_to=reply_to,
                                                 allow_internal=allow_internal)], max_in_flight=max_in_flight)
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


Prepared = tuple[int, JobRequest, TaskKind, ModelSpec, dict[str, Any]]


def jobs_submit(*, requests: Sequence[JobRequest],
                max_in_flight: int | None = None) -> list[InferenceJob | BaseException]:
    """Validate and record several jobs in one transaction; their messages leave once it commits.

    Each request gets its own outcome, in order: its job, or the ``ApiError`` that refused it (unknown
    kind or model, input out of bounds: ``job_prepare``; ``max_in_flight`` reached). The in-flight cap is
    counted once per user, under a lock on the user's row, and each accepted job takes a place in order.
    The jobs for one queue travel in one Celery message (``jobs_enqueue``). When the broker does not
    answer, every job of the call fails at once with a reason (so none runs later, behind the 503 its
    request gets) and the broker's error is each one's outcome.

    The web process submits the requests that arrive together in one call (``api.submissions``): one
    transaction and one message per queue for all of them, where each request used to cost its own.
    """
    outcomes: list[InferenceJob | BaseException | None] = [None] * len(requests)
    prepared: list[Prepared] = []
    for index, request in enumerate(requests):
        try:
            kind, spec, cleaned = job_prepare(user=request.user, kind_name=request.kind_name,
                                              model_id=request.model_id, data=request.data,
                                              allow_internal=request.allow_internal)
        except ApiError as exc:
            outcomes[index] = exc
            continue
        prepared.append((index, request, kind, spec, cleaned))
    recorded: list[tuple[int, InferenceJob]] = []
    if prepared:
        try:
            with transaction.atomic():
                recorded = _jobs_record(prepared, max_in_flight, outcomes)
        except BROKER_ERRORS as exc:
            # The rows are committed but their messages were not sent: the jobs end now, failed with a
            # reason, so they never run later (the sweeper would re-send them) behind their requests' 503.
            # (A job whose message did leave, to another queue, and that a worker claimed already, runs.)
            now = timezone.now()
            unsent = InferenceJob.objects.filter(id__in=[job.id for _, job in recorded], status=JobStatus.QUEUED)
            failed = set(unsent.values_list("id", flat=True))
            unsent.filter(id__in=failed).update(
                status=JobStatus.FAILED, finished_at=now, released_at=now,
                error="The job could not be queued (the broker did not answer); it will not run.")
            for index, job in recorded:
                if job.id in failed:
                    outcomes[index] = exc
    return [outcome if outcome is not None else RuntimeError("not submitted") for outcome in outcomes]


def _jobs_record(prepared: Sequence[Prepared], max_in_flight: int | None,
                 outcomes: list[InferenceJob | BaseException | None]) -> list[tuple[int, InferenceJob]]:
    """Inside the submission's transaction: the in-flight cap, the rows, and their messages on commit.

    Fills ``outcomes`` (refusals and jobs, by index) and returns the recorded jobs with their indexes.
    Each user's row is locked (in id order, so two submissions cannot deadlock) and their jobs in flight
    counted once; the user's requests then take the free places in order.
    """
    in_flight: dict[Any, int] = {}
    if max_in_flight is not None:
        users = {request.user.pk: request.user for _, request, *_ in prepared}
        if connection.features.has_select_for_update:  # SQLite: BEGIN IMMEDIATE serializes writers already
            list(get_user_model().objects.select_for_update().filter(pk__in=users).order_by("pk")
                 .values_list("pk", flat=True))
        in_flight = jobs_in_flight_counts(owner_ids=sorted(users), stale_before=heartbeat_stale_before())
    now = timezone.now()
    rows: list[tuple[int, ModelSpec, InferenceJob]] = []
    for index, request, kind, spec, cleaned in prepared:
        if max_in_flight is not None:
            held = in_flight[request.user.pk]
            if held >= max_in_flight:
                outcomes[index] = LimitReached(
                    "too_many_jobs", f"You have {held} jobs queued or running, the most allowed at once is "
                    f"{max_in_flight}; wait for some to finish.", retry_after=1)
                continue
            in_flight[request.user.pk] = held + 1
        given_id = {"id": request.job_id} if request.job_id is not None else {}
        rows.append((index, spec, InferenceJob(
            **given_id, owner=request.user, api_key=request.api_key, task_kind=kind.name, model_id=spec.id,
            model_key=spec.key, input=cleaned, enqueued_at=now, reply_to=request.reply_to)))
    if not rows:
        return []
    jobs_insert([job for _, _, job in rows])
    jobs_enqueue(jobs=[(job, spec) for _, spec, job in rows])
    for index, _, job in rows:
        outcomes[index] = job
    return [(index, job) for index, _, job in rows]


BROKER_ERRORS: tuple[type[BaseException], ...] = (OperationalError, redis.RedisError)


def job_enqueue(*, job: InferenceJob, spec: ModelSpec | None = None) -> None:
    """Send a queued job's Celery task (again) to its model's queue after the current transaction commits."""
    InferenceJob.objects.filter(id=job.id).update(enqueued_at=timezone.now())
    if spec is None:
        spec = (model_resolve_key(key=job.model_key, owner_id=job.owner_id) if job.model_key
                else model_resolve(model_id=job.model_id, user=job.owner, include_unready=True))
    jobs_enqueue(jobs=[(job, spec)])


# The most jobs one RUN_JOBS message carries (a worker gathers a batch from one message or several).
MESSAGE_MAX_JOBS = 64


def jobs_enqueue(*, jobs: Sequence[tuple[InferenceJob, ModelSpec | None]]) -> None:
    """Send the jobs' Celery tasks once the current transaction commits: one ``RUN_JOBS`` message per queue
    (at most ``MESSAGE_MAX_JOBS`` jobs each; a lone job as a ``RUN_JOB`` message), a streaming job in a
    ``RUN_JOB`` message of its own.

    Each job travels with its route (``job_route``), so a worker batches it without reading its row. A
    job whose model was deleted while it waited (no spec) goes to ``fp.default``, where any worker fails
    it with a reason. One message per job cost the web 0.35 core-ms a job to publish and the worker
    1-1.5 to consume (``BENCH_ONLY=overhead make bench``).
    """
    by_queue: dict[str, list[list]] = {}
    for job, spec in jobs:
        queue = spec.queue if spec is not None else "fp.default"
        route = job_route(model_key=job.model_identity, task_kind=job.task_kind, cleaned=job.input)
        if route[3]:  # streaming: it runs alone, on the thread of its own message
            current_app.tasks[RUN_JOB].apply_async_on_commit(args=(str(job.id), route), queue=queue,
                                                             argsrepr=_argsrepr([str(job.id)]))
        else:
            by_queue.setdefault(queue, []).append([str(job.id), route])
    for queue, items in by_queue.items():
        for start in range(0, len(items), MESSAGE_MAX_JOBS):
            chunk = items[start:start + MESSAGE_MAX_JOBS]
            shown = _argsrepr([job_id for job_id, _ in chunk])
            if len(chunk) == 1:
                current_app.tasks[RUN_JOB].apply_async_on_commit(args=tuple(chunk[0]), queue=queue, argsrepr=shown)
            else:
                current_app.tasks[RUN_JOBS].apply_async_on_commit(args=(chunk,), queue=queue, argsrepr=shown)


def _argsrepr(job_ids: list[str]) -> str:
    """How a message's arguments show in Celery's logs and events: its job ids. Celery's own ``saferepr``
    of the routes took a tenth of a publish."""
    more = f" and {len(job_ids) - 4} more" if len(job_ids) > 4 else ""
    return f"jobs {', '.join(job_ids[:4])}{more}"
