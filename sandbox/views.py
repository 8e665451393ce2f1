"""The sandbox pages: try every task kind in the browser, on the public API."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from api.serializers import job_json
from inference.jobs.selectors import job_get
from inference.kinds.base import TaskKind
from inference.models import InferenceJob
from inference.registry import kind_get, public_kinds

from . import selectors

DEFAULT_KIND = "emotion"

# The errors every task endpoint may answer, for the reference pages.
API_ERRORS: tuple[tuple[int, str, str], ...] = (
    (400, "invalid", "An input breaks the declaration: a missing field, a value out of bounds, an unknown field, "
                     "or a request over the kind's cost bound. fields names the bad input."),
    (400, "malformed_json", "The body is not valid JSON."),
    (401, "invalid_api_key", "The x-api-key header is missing, unknown, revoked or expired."),
    (404, "unknown_model", "No model with that id (or another user's model)."),
    (409, "model_not_installed", "The model is in the catalog but not installed on this server."),
    (413, "payload_too_large", "The body (or an image) is too large."),
    (415, "unsupported_media_type", "Send application/json or multipart/form-data."),
    (422, "job_failed", "The model could not run on this input; message says why."),
    (429, "rate_limited", "Too many requests a minute; retry after the Retry-After header's seconds."),
    (429, "too_many_jobs", "Too many of your jobs are queued or running at once."),
    (429, "allowance_spent", "The monthly allowance of compute seconds is spent."),
    (503, "queue_full", "The model's queue is full; retry later."),
)


def _kind_or_404(kind_name: str) -> TaskKind:
    kind = kind_get(kind_name)
    if kind is None or kind.internal:
        raise Http404(f"No task kind '{kind_name}'.")
    return kind


@login_required
def index(request: HttpRequest) -> HttpResponse:
    return redirect("sandbox:kind", kind_name=DEFAULT_KIND)


@login_required
def kind_page(request: HttpRequest, kind_name: str) -> HttpResponse:
    kind = _kind_or_404(kind_name)
    requested = request.GET.get("model") or None
    choices, chosen = selectors.model_choices(user=request.user, kind=kind, requested=requested)
    main_fields, advanced_fields = selectors.form_layout(kind)
    return render(request, "sandbox/kind.html", {
        "kind": kind,
        "kinds": public_kinds(),
        "choices": choices,
        "model": chosen,
        "requested_unusable": requested if requested and (chosen is None or chosen.id != requested) else None,
        "main_fields": main_fields,
        "advanced_fields": advanced_fields,
        "model_details": selectors.model_details(chosen),
        "declaration": selectors.kind_declaration(kind),
        "response_fields": selectors.response_fields(kind),
        "keys": selectors.usable_keys(user=request.user),
    })


@login_required
def reference(request: HttpRequest, kind_name: str) -> HttpResponse:
    kind = _kind_or_404(kind_name)
    return render(request, "sandbox/reference.html", {
        "kind": kind,
        "kinds": public_kinds(),
        "params": [p for p in kind.params],
        "response_fields": selectors.response_fields(kind),
        "request_schema": selectors.schema_json(kind.request_schema()),
        "response_schema": selectors.schema_json(kind.response_schema),
        "example": selectors.schema_json(kind.example),
        "response_example": selectors.schema_json(kind.response_example),
        "errors": API_ERRORS,
    })


@login_required
@require_GET
def job_status(request: HttpRequest, job_id) -> JsonResponse:
    """A job of the signed-in user, for the sandbox's polling after a 202 (the API's job URL wants a key)."""
    try:
        job = job_get(user=request.user, job_id=job_id)
    except InferenceJob.DoesNotExist as exc:
        raise Http404("No such job.") from exc
    return JsonResponse(job_json(job))
