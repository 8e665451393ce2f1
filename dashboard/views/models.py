"""The own-models page (upload, status, delete)."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


@login_required
def models_page(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/message_page.html", {"title": "Your models", "message": "Coming soon."})
