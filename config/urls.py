"""Root URLs: the dashboard and sandbox pages, the API under /api/ (OpenAI's under /v1/), Prometheus metrics at
/metrics."""

from django.contrib import admin
from django.urls import include, path

from .metrics import metrics_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("api.urls")),
    path("v1/", include("api.openai.urls")),  # OpenAI's API, over the same task kinds
    path("metrics", metrics_view, name="metrics"),
    path("sandbox/", include("sandbox.urls")),
    path("", include("dashboard.urls")),
]
