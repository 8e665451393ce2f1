"""Root URLs: the dashboard and sandbox pages, the API under /api/."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("api.urls")),
    path("sandbox/", include("sandbox.urls")),
    path("", include("dashboard.urls")),
]
