from django.urls import path

from . import views

app_name = "sandbox"

urlpatterns = [
    path("", views.index, name="index"),
    path("jobs/<uuid:job_id>/", views.job_status, name="job"),
    path("<str:kind_name>/", views.kind_page, name="kind"),
    path("<str:kind_name>/reference/", views.reference, name="reference"),
]
