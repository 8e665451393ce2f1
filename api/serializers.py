"""JSON shapes of jobs, task kinds and models."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from inference.catalog import ModelSpec
from inference.jobs.selectors import job_input_shown
from inference.kinds.base import TaskKind
from inference.models import InferenceJob


def job_json(job: InferenceJob, *, with_input: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(job.id),
        "url": reverse("api:job-detail", args=[job.id]),
        "task": job.task_kind,
        "model": job.model_id,
        "status": job.status,
        "source": job.source,
        "attempts": job.attempts,
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "queue_ms": job.queue_ms,
        "compute_ms": job.compute_ms,
        "load_ms": job.load_ms,
        "result": job.output if job.status == "succeeded" else None,
        "error": job.error or None,
        "data_purged_at": job.data_purged_at.isoformat() if job.data_purged_at else None,
    }
    if with_input:
        body["input"] = job_input_shown(job)
    return body


def kind_json(kind: TaskKind) -> dict[str, Any]:
    return {
        "name": kind.name,
        "title": kind.title,
        "description": kind.description,
        "endpoint": f"/api/{kind.name}",
        "default_model": kind.default_model,
        "defaults": kind.defaults(),
        "request_schema": kind.request_schema(),
        "cost_bound": kind.cost_bound.json() if kind.cost_bound is not None else None,
        "response_schema": kind.response_schema,
        "example": kind.example,
        "response_example": kind.response_example,
    }


def model_json(spec: ModelSpec, *, warm: bool | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": spec.id,
        "name": spec.name,
        "tasks": list(spec.kinds),
        "description": spec.description,
        "details": spec.details,
        "source": spec.source,
        "installed": spec.installed,
        "install": spec.install_hint or None,
    }
    if spec.source == "hub":
        body["hub"] = {"repo": spec.hub_repo, "revision": spec.hub_revision}
    if spec.source == "uploaded":
        body.update(spec.options.get("upload", {}))
    return body
