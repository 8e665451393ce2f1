"""Dashboard pages: accounts and API keys. Thin: parse, call a service, render."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from .. import selectors, services
from ..forms import ApiKeyCreateForm, ApiKeyRotateForm, SignupForm
from ..models import UserAPIKey


def signup(request: HttpRequest) -> HttpResponse:
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = services.user_signup(username=form.cleaned_data["username"], email=form.cleaned_data["email"],
                                    password=form.cleaned_data["password1"])
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("dashboard:welcome")
    return render(request, "dashboard/signup.html", {"form": form})


class LoginView(auth_views.LoginView):
    """Django's login; django-axes refuses it after repeated failures (dashboard/login_throttle.py)."""

    template_name = "dashboard/login.html"
    redirect_authenticated_user = True


class ThrottledPasswordResetView(auth_views.PasswordResetView):
    """Django's password reset, sending at most a few e-mails per address asked for and per client address."""

    def form_valid(self, form):
        if not services.password_reset_request_record(email=form.cleaned_data["email"],
                                                      address=self.request.META.get("REMOTE_ADDR", "")):
            return render(self.request, "dashboard/message_page.html", {
                "title": "Too many reset requests",
                "message": "Too many password reset e-mails were asked for. Wait an hour, then try again.",
            }, status=429)
        return super().form_valid(form)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    keys = selectors.api_key_list(user=request.user)
    return render(request, "dashboard/home.html", {"keys": keys[:5], "key_count": keys.count()})


@login_required
def welcome(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/welcome.html")


def _own_key(request: HttpRequest, prefix: str) -> UserAPIKey:
    try:
        return selectors.api_key_get(user=request.user, prefix=prefix)
    except UserAPIKey.DoesNotExist as exc:
        raise Http404("No such key.") from exc


@login_required
def keys(request: HttpRequest) -> HttpResponse:
    form = ApiKeyCreateForm(request.POST or None)
    issued = None
    if request.method == "POST" and form.is_valid():
        issued = services.api_key_create(user=request.user, name=form.cleaned_data["name"],
                                         expiry_date=form.cleaned_data["expiry_date"])
        form = ApiKeyCreateForm()
    return render(request, "dashboard/keys.html", {
        "form": form, "issued": issued, "keys": selectors.api_key_list(user=request.user),
        "rotate_form": ApiKeyRotateForm(),
    }, status=201 if issued else 200)


@login_required
@require_POST
def key_revoke(request: HttpRequest, prefix: str) -> HttpResponse:
    api_key = _own_key(request, prefix)
    services.api_key_revoke(api_key=api_key)
    messages.success(request, f"The key '{api_key.name}' ({api_key.prefix}…) is revoked.")
    return redirect("dashboard:keys")


@login_required
@require_POST
def key_rotate(request: HttpRequest, prefix: str) -> HttpResponse:
    api_key = _own_key(request, prefix)
    form = ApiKeyRotateForm(request.POST)
    if not form.is_valid() or not api_key.is_usable:
        messages.error(request, "Only an active key can be rotated, with a grace period of 0 to 720 hours.")
        return redirect("dashboard:keys")
    issued = services.api_key_rotate(api_key=api_key, grace_hours=form.cleaned_data["grace_hours"])
    return render(request, "dashboard/keys.html", {
        "form": ApiKeyCreateForm(), "issued": issued, "rotated": api_key,
        "grace_hours": form.cleaned_data["grace_hours"],
        "keys": selectors.api_key_list(user=request.user), "rotate_form": ApiKeyRotateForm(),
    })
