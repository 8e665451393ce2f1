"""The sandbox pages: try every task kind in the browser, on the public API."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from api.errors import task_errors
from api.serializers import job_json
from inference.jobs.selectors import job_get
from inference.kinds.base import TaskKind
from inference.models import InferenceJob
from inference.registry import kind_get, public_kinds

from . import selectors

DEFAULT_KIND = "emotion"

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
        "errors": [(error.status, error.code, error.description) for error in task_errors()],
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
