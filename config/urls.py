"""Root URLs: the dashboard and sandbox pages, the API under /api/, Prometheus metrics at /metrics."""

from django.contrib import admin
from django.urls import include, path

from .metrics import metrics_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("api.urls")),
    path("metrics", metrics_view, name="metrics"),
    path("sandbox/", include("sandbox.urls")),
    path("", include("dashboard.urls")),
]
