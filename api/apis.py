"""DRF endpoints of the public API: account, jobs, task kinds and models."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from inference import selectors, services
from inference.models import InferenceJob, JobStatus
from inference.registry import kind_get, public_kinds

from .authentication import ApiKeyAuthentication, SandboxSessionAuthentication
from .serializers import job_json, kind_json, model_json

JOB_FIELDS = {
    "id": serializers.UUIDField(), "url": serializers.CharField(), "task": serializers.CharField(),
    "model": serializers.CharField(), "status": serializers.ChoiceField(choices=JobStatus.values),
    "source": serializers.CharField(), "attempts": serializers.IntegerField(),
    "created_at": serializers.DateTimeField(), "started_at": serializers.DateTimeField(allow_null=True),
    "finished_at": serializers.DateTimeField(allow_null=True), "queue_ms": serializers.IntegerField(allow_null=True),
    "compute_ms": serializers.IntegerField(allow_null=True), "result": serializers.JSONField(allow_null=True),
    "error": serializers.CharField(allow_null=True),
}
JOB_SCHEMA = inline_serializer("Job", JOB_FIELDS)


class ApiView(APIView):
    """API key or, for the sandbox, the browser session."""

    authentication_classes = [ApiKeyAuthentication, SandboxSessionAuthentication]


class MeApi(ApiView):
    """Who the key belongs to: a first endpoint to test a key against."""

    @extend_schema(summary="The owner of the API key", responses=inline_serializer("Me", {
        "user": serializers.CharField(), "key": serializers.CharField(allow_null=True),
        "key_prefix": serializers.CharField(allow_null=True)}))
    def get(self, request: Request) -> Response:
        api_key = request.auth if hasattr(request.auth, "prefix") else None
        return Response({"user": request.user.get_username(), "key": api_key.name if api_key else None,
                         "key_prefix": api_key.prefix if api_key else None})


def _own_job(request: Request, job_id) -> InferenceJob:
    try:
        return selectors.job_get(user=request.user, job_id=job_id)
    except (InferenceJob.DoesNotExist, ValueError) as exc:
        raise Http404(f"No job {job_id}.") from exc


class JobListApi(ApiView):
    @extend_schema(summary="Your jobs, newest first", parameters=[
        OpenApiParameter("status", OpenApiTypes.STR, enum=JobStatus.values),
        OpenApiParameter("task", OpenApiTypes.STR, description="A task kind, e.g. emotion"),
    ], responses=inline_serializer("JobList", JOB_FIELDS, many=True))
    def get(self, request: Request) -> Response:
        status = request.query_params.get("status") or None
        if status and status not in JobStatus.values:
            raise serializers.ValidationError({"status": [f"one of {', '.join(JobStatus.values)}"]})
        jobs = selectors.job_list(user=request.user, status=status, task_kind=request.query_params.get("task") or None)
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(jobs, request, view=self)
        return paginator.get_paginated_response([job_json(job) for job in page])


class JobDetailApi(ApiView):
    @extend_schema(summary="A job: status, timings, result or error", responses=JOB_SCHEMA)
    def get(self, request: Request, job_id) -> Response:
        return Response(job_json(_own_job(request, job_id), with_input=True))


class JobCancelApi(ApiView):
    @extend_schema(summary="Cancel a queued or running job", request=None, responses=JOB_SCHEMA)
    def post(self, request: Request, job_id) -> Response:
        job = services.job_cancel(job=_own_job(request, job_id))
        return Response(job_json(job, with_input=True))


class TaskListApi(ApiView):
    @extend_schema(operation_id="tasks_list", summary="Every task kind with its JSON schema, defaults and example",
                   responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        return Response({"tasks": [kind_json(kind) for kind in public_kinds()]})


class TaskDetailApi(ApiView):
    @extend_schema(summary="One task kind", responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, kind_name: str) -> Response:
        kind = kind_get(kind_name)
        if kind is None or kind.internal:
            raise Http404(f"No task kind '{kind_name}'.")
        return Response(kind_json(kind))


class ModelListApi(ApiView):
    @extend_schema(operation_id="models_list", summary="The model catalog (installed or not) and your own models",
                   parameters=[OpenApiParameter("task", OpenApiTypes.STR)], responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        specs = selectors.model_list(user=request.user, kind=request.query_params.get("task") or None)
        return Response({"models": [model_json(spec) for spec in specs]})


class ModelDetailApi(ApiView):
    @extend_schema(summary="One model of the catalog, or one of your own", responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, model_id: str) -> Response:
        spec = selectors.model_resolve(model_id=model_id, user=request.user, include_unready=True)
        if spec is None or spec.internal:
            raise Http404(f"No model '{model_id}'.")
        return Response(model_json(spec))
