"""The usage page (compute time per day, task kind and key; the allowance left)."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


@login_required
def usage(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/message_page.html", {"title": "Usage", "message": "Coming soon."})
