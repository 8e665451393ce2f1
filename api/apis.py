"""DRF endpoints of the public API: account, jobs, task kinds and models."""

from __future__ import annotations

from django.http import Http404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from inference import jobs as services
from inference.jobs import selectors
from inference.models import InferenceJob, JobStatus, UploadedModel
from inference.registry import GGUF_UPLOAD, format_kinds, kind_get, public_kinds
from inference.uploads import services as upload_services
from inference.uploads.archive import KIND_FAMILIES

from .authentication import ApiKeyAuthentication, SandboxSessionAuthentication
from .health import health_report
from .serializers import JobDetailSerializer, JobSerializer, job_json, kind_json, model_json

JOB_LIST_SCHEMA = inline_serializer("PaginatedJobList", {
    "count": serializers.IntegerField(), "next": serializers.CharField(allow_null=True),
    "previous": serializers.CharField(allow_null=True), "results": JobSerializer(many=True)})


@extend_schema_field(OpenApiTypes.BINARY)
class UploadFileField(serializers.FileField):
    """A file in a multipart request (binary in the OpenAPI schema)."""


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
    @extend_schema(operation_id="jobs_list", summary="Your jobs, newest first", parameters=[
        OpenApiParameter("status", OpenApiTypes.STR, enum=JobStatus.values),
        OpenApiParameter("task", OpenApiTypes.STR, description="A task kind, e.g. emotion"),
        OpenApiParameter("limit", OpenApiTypes.INT, description="Jobs per page"),
        OpenApiParameter("offset", OpenApiTypes.INT, description="Jobs to skip"),
    ], responses=JOB_LIST_SCHEMA)
    def get(self, request: Request) -> Response:
        status = request.query_params.get("status") or None
        if status and status not in JobStatus.values:
            raise serializers.ValidationError({"status": [f"one of {', '.join(JobStatus.values)}"]})
        jobs = selectors.job_list(user=request.user, status=status, task_kind=request.query_params.get("task") or None)
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(jobs, request, view=self)
        return paginator.get_paginated_response([job_json(job) for job in page])


class JobDetailApi(ApiView):
    @extend_schema(summary="A job: status, timings, result or error", responses=JobDetailSerializer)
    def get(self, request: Request, job_id) -> Response:
        return Response(job_json(_own_job(request, job_id), with_input=True))


class JobCancelApi(ApiView):
    @extend_schema(summary="Cancel a queued or running job", request=None, responses=JobDetailSerializer)
    def post(self, request: Request, job_id) -> Response:
        job = services.job_cancel(job=_own_job(request, job_id))
        return Response(job_json(job, with_input=True))


def _health_models() -> serializers.Field:
    return serializers.DictField(
        child=serializers.ChoiceField(choices=["warm", "cold"]), required=False,
        help_text="Each installed catalog model by id: warm when a live worker has it loaded (its first request "
                  "pays no load), cold otherwise (not a failure). Present when Redis answers.")


def _health_workers() -> serializers.Field:
    return serializers.IntegerField(required=False, min_value=0,
                                    help_text="Live workers (they renew their report every few seconds). "
                                              "Present when Redis answers.")


class HealthApi(APIView):
    """Readiness: the database and Redis answer (no key needed); which models are warm."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(summary="Is the service ready", auth=[], responses={
        (200, "application/json"): inline_serializer("Health", {
            "status": serializers.ChoiceField(choices=["ok", "failing"]),
            "checks": serializers.DictField(child=serializers.CharField()),
            "broker_persistence": serializers.ChoiceField(
                choices=["aof", "rdb", "none", "unknown"], required=False,
                help_text="How the broker Redis keeps queued jobs: none means a restart loses them (a warning)."),
            "models": _health_models(),
            "workers": _health_workers(),
            "warnings": serializers.ListField(child=serializers.CharField())}),
        (503, "application/json"): inline_serializer("HealthFailing", {
            "status": serializers.ChoiceField(choices=["ok", "failing"]),
            "checks": serializers.DictField(child=serializers.CharField()),
            "models": _health_models(),
            "workers": _health_workers(),
            "warnings": serializers.ListField(child=serializers.CharField())}),
    })
    def get(self, request: Request) -> Response:
        healthy, checks, extra = health_report()
        return Response({"status": "ok" if healthy else "failing", "checks": checks, **extra},
                        status=200 if healthy else 503)


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

    @extend_schema(
        operation_id="models_upload", summary="Upload your own model; it is built (validated) on a worker",
        description=("A zip or tar.gz of a transformers model folder (config.json, safetensors weights, tokenizer "
                     f"files), or a single .gguf file for {', '.join(format_kinds(GGUF_UPLOAD))}. Uploading a name "
                     "again builds a new "
                     "version; the previous ready one serves until the new one is ready. Poll "
                     "GET /api/models/<name> for build_status and build_message."),
        request={"multipart/form-data": inline_serializer("ModelUpload", {
            "name": serializers.RegexField(upload_services.NAME_PATTERN),
            "task": serializers.ChoiceField(choices=list(KIND_FAMILIES)),
            "description": serializers.CharField(required=False, allow_blank=True),
            "file": UploadFileField(),
        })},
        responses={202: OpenApiTypes.OBJECT},
    )
    def post(self, request: Request) -> Response:
        version = upload_services.model_upload_create(
            user=request.user, name=str(request.data.get("name") or ""),
            task_kind=str(request.data.get("task") or ""),
            description=str(request.data.get("description") or ""), file=request.FILES.get("file"))
        spec = selectors.model_resolve(model_id=version.model.name, user=request.user, include_unready=True)
        return Response(model_json(spec), status=202,
                        headers={"Location": reverse("api:model-detail", args=[version.model.name])})


class ModelDetailApi(ApiView):
    @extend_schema(summary="One model of the catalog, or one of your own", responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, model_id: str) -> Response:
        spec = selectors.model_resolve(model_id=model_id, user=request.user, include_unready=True)
        if spec is None or spec.internal:
            raise Http404(f"No model '{model_id}'.")
        return Response(model_json(spec))

    @extend_schema(summary="Delete one of your own models (every version, files included)", request=None,
                   responses={204: None})
    def delete(self, request: Request, model_id: str) -> Response:
        try:
            upload_services.model_upload_delete(user=request.user, name=model_id)
        except UploadedModel.DoesNotExist as exc:
            raise Http404(f"No model '{model_id}' of yours.") from exc
        return Response(status=204)
