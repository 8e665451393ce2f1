"""A job's route: what a worker needs to batch it, sent with its Celery message.

The web side computes it when the job is enqueued (``job_enqueue``); the
Celery task hands it to the worker's batcher (``inference.runtime.batching``).
"""

from __future__ import annotations

from typing import Any

from ..models import InferenceJob, JobStatus
from ..registry import kind_get


def batch_key(*, task_kind: str, cleaned: dict[str, Any]) -> str:
    """Jobs with equal keys (and the same exact model and kind) may share a forward pass: ``kind.batch_key``
    as text."""
    kind = kind_get(task_kind)
    return repr(kind.batch_key(cleaned)) if kind is not None else ""


def job_route(*, model_key: str, task_kind: str, cleaned: dict[str, Any]) -> list:
    """What a worker needs to batch a job, sent with its message: the exact model (``InferenceJob.model_key``,
    unique across owners and versions), kind, batch key, streaming, and the job's cost (new tokens asked
    for, for the batch's token budget; 0 for kinds without a cost bound)."""
    kind = kind_get(task_kind)
    cost = kind.request_cost(cleaned) if kind is not None else 0
    return [model_key, task_kind, batch_key(task_kind=task_kind, cleaned=cleaned), bool(cleaned.get("stream")),
            cost]


def job_route_read(*, job_id: str) -> list | None:
    """The route of a queued job, read from its row (for messages sent without one, by older senders);
    None when the job is not queued (a duplicate delivery, a cancelled job): nothing to run."""
    job = InferenceJob.objects.filter(id=job_id, status=JobStatus.QUEUED).only(
        "id", "task_kind", "model_id", "model_key", "owner_id", "input").first()
    if job is None:
        return None
    return job_route(model_key=job.model_identity, task_kind=job.task_kind, cleaned=job.input)
