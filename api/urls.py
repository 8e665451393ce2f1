"""The public REST API, under /api/ (one base URL, as Backprop's)."""

from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from inference.registry import public_kinds

from . import apis
from .task_views import task_endpoint
from .views import api_not_found

app_name = "api"

# Swagger UI and ReDoc style their pages with inline styles; their scripts stay our own static files
# (the split view serves Swagger UI's start script from ?script, not inline), as on every page.
_docs_policy = csp_update({"style-src": [UNSAFE_INLINE]})

urlpatterns = [
    path("health", apis.HealthApi.as_view(), name="health"),
    path("me", apis.MeApi.as_view(), name="me"),
    path("jobs", apis.JobListApi.as_view(), name="job-list"),
    path("jobs/<uuid:job_id>", apis.JobDetailApi.as_view(), name="job-detail"),
    path("jobs/<uuid:job_id>/cancel", apis.JobCancelApi.as_view(), name="job-cancel"),
    path("tasks", apis.TaskListApi.as_view(), name="task-list"),
    path("tasks/<str:kind_name>", apis.TaskDetailApi.as_view(), name="task-detail"),
    path("models", apis.ModelListApi.as_view(), name="model-list"),
    path("models/<str:model_id>", apis.ModelDetailApi.as_view(), name="model-detail"),
    path("schema", SpectacularAPIView.as_view(), name="schema"),
    path("docs", _docs_policy(SpectacularSwaggerSplitView.as_view(url_name="api:schema")), name="docs"),
    path("redoc", _docs_policy(SpectacularRedocView.as_view(url_name="api:schema", template_name="api/redoc.html")),
         name="redoc"),
]
# One endpoint per task kind, generated from the registry.
urlpatterns += [
    path(kind.name, task_endpoint, {"kind_name": kind.name}, name=f"task-{kind.name}") for kind in public_kinds()
]
urlpatterns.append(re_path(r"^.*$", api_not_found))
