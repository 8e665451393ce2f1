"""The own-models page: upload, build status, delete."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from inference.errors import ApiError
from inference.models import BuildStatus, UploadedModel
from inference.uploads import services as upload_services
from inference.uploads.selectors import uploaded_models

from ..forms import ModelUploadForm


@login_required
def models_page(request: HttpRequest) -> HttpResponse:
    form = ModelUploadForm()
    if request.method == "POST" and request.POST.get("action") == "delete":
        name = request.POST.get("name", "")
        try:
            upload_services.model_upload_delete(user=request.user, name=name)
            messages.success(request, f"The model {name} was deleted.")
        except UploadedModel.DoesNotExist:
            messages.error(request, f"You have no model called {name}.")
        return redirect("dashboard:models")
    if request.method == "POST":
        form = ModelUploadForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                version = upload_services.model_upload_create(
                    user=request.user, name=form.cleaned_data["name"], task_kind=form.cleaned_data["task"],
                    description=form.cleaned_data["description"], file=form.cleaned_data["file"])
            except ApiError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.problem)
            else:
                messages.success(request, f"Uploaded {version.model.name} (version {version.number}); "
                                          "it is being built.")
                return redirect("dashboard:models")
    rows = uploaded_models(user=request.user)
    building = any(latest and latest.build_status == BuildStatus.BUILDING for _, latest, _ in rows)
    return render(request, "dashboard/models.html", {"form": form, "rows": rows, "building": building},
                  status=400 if form.errors else 200)
