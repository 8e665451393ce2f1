"""JSON shapes of jobs, task kinds and models."""

from __future__ import annotations

from typing import Any

import orjson
from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from inference.catalog import ModelSpec
from inference.jobs.selectors import job_input_shown
from inference.kinds.base import TaskKind
from inference.models import InferenceJob, JobStatus


def json_response(data: Any, *, status: int = 200) -> HttpResponse:
    """``data`` as a JSON response, encoded with orjson: a job's result is the API's hot path, and a text
    vector's 384 numbers took 177 µs to encode with the standard library (12 µs with orjson)."""
    return HttpResponse(orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS), status=status,
                        content_type="application/json")


class IsoDateTimeField(serializers.DateTimeField):
    """A time as ``datetime.isoformat()`` writes it (microseconds and the UTC offset kept), as the API always has."""

    def to_representation(self, value) -> str:
        return value.isoformat()


class JobSerializer(serializers.Serializer):
    """A job as the API shows it (GET /api/jobs, the 202 of a task endpoint); also its OpenAPI schema."""

    id = serializers.UUIDField()
    url = serializers.SerializerMethodField()
    task = serializers.CharField(source="task_kind")
    model = serializers.CharField(source="model_id")
    status = serializers.ChoiceField(choices=JobStatus.choices)
    source = serializers.CharField()
    attempts = serializers.IntegerField()
    created_at = IsoDateTimeField()
    started_at = IsoDateTimeField(allow_null=True)
    finished_at = IsoDateTimeField(allow_null=True)
    queue_ms = serializers.IntegerField(allow_null=True)
    compute_ms = serializers.IntegerField(
        allow_null=True, help_text="The job's own work (its share of its batch); charged to the monthly allowance.")
    load_ms = serializers.IntegerField(
        allow_null=True, help_text="Time the worker spent loading the model before the job (a cold start); "
                                   "not charged.")
    result = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()
    data_purged_at = IsoDateTimeField(
        allow_null=True, help_text="When the input and result were deleted (JOB_DATA_RETENTION_DAYS after the "
                                   "job ended); null while they are kept.")

    def get_url(self, job: InferenceJob) -> str:
        return reverse("api:job-detail", args=[job.id])

    @extend_schema_field(serializers.JSONField(allow_null=True))
    def get_result(self, job: InferenceJob) -> Any:
        return job.output if job.status == JobStatus.SUCCEEDED else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_error(self, job: InferenceJob) -> str | None:
        return job.error or None


class JobDetailSerializer(JobSerializer):
    """A job with its input (images shortened; null once purged)."""

    input = serializers.SerializerMethodField()

    @extend_schema_field(serializers.JSONField(allow_null=True))
    def get_input(self, job: InferenceJob) -> Any:
        return job_input_shown(job)


# One instance of each, reused: a serializer copies its declared fields when it is made (0.3 ms a job here),
# and ``to_representation`` keeps no state.
_JOB = JobSerializer()
_JOB_DETAIL = JobDetailSerializer()


def job_json(job: InferenceJob, *, with_input: bool = False) -> dict[str, Any]:
    return (_JOB_DETAIL if with_input else _JOB).to_representation(job)


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
