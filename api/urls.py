"""The public REST API, under /api/."""

from django.urls import path, re_path

from . import apis
from .views import api_not_found

app_name = "api"

urlpatterns = [
    path("me", apis.MeApi.as_view(), name="me"),
    re_path(r"^.*$", api_not_found),
]
