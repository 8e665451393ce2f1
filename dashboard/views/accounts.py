"""Dashboard pages: accounts and API keys. Thin: parse, call a service, render."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_POST

from .. import selectors, services
from ..forms import ApiKeyCreateForm, ApiKeyRotateForm, SignupForm
from ..login_throttle import client_address
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
                                                      address=client_address(self.request)):
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


def _keys_page(request: HttpRequest, *, form: ApiKeyCreateForm, issued=None, status: int = 200,
               **extra) -> HttpResponse:
    response = render(request, "dashboard/keys.html", {
        "form": form, "issued": issued, "keys": selectors.api_key_list(user=request.user),
        "rotate_form": ApiKeyRotateForm(), **extra,
    }, status=status)
    if issued is not None:
        # The only copy of a key: no cache (the browser's, a proxy's) may keep the page that shows it.
        add_never_cache_headers(response)
    return response


@login_required
def keys(request: HttpRequest) -> HttpResponse:
    form = ApiKeyCreateForm(request.POST or None)
    issued = None
    if request.method == "POST" and form.is_valid():
        issued = services.api_key_create(user=request.user, name=form.cleaned_data["name"],
                                         expiry_date=form.cleaned_data["expiry_date"])
        form = ApiKeyCreateForm()
    return _keys_page(request, form=form, issued=issued, status=201 if issued else 200)


@login_required
@require_POST
def key_revoke(request: HttpRequest, prefix: str) -> HttpResponse:
    try:
        api_key = services.api_key_revoke(api_key=_own_key(request, prefix))
    except services.KeyNotChanged as exc:
        messages.info(request, exc.message)
        return redirect("dashboard:keys")
    message = f"The key '{api_key.name}' ({api_key.prefix}…) is revoked."
    predecessor = api_key.rotated_from
    if predecessor is not None and predecessor.is_usable:
        message += (f" The key it replaced ({predecessor.prefix}…) still works until "
                    f"{predecessor.expiry_date:%Y-%m-%d %H:%M} UTC; revoke it too if it should stop now.")
    messages.success(request, message)
    return redirect("dashboard:keys")


@login_required
@require_POST
def key_rotate(request: HttpRequest, prefix: str) -> HttpResponse:
    api_key = _own_key(request, prefix)
    form = ApiKeyRotateForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The grace period is a whole number of hours from 0 to 720.")
        return redirect("dashboard:keys")
    try:
        issued = services.api_key_rotate(api_key=api_key, grace_hours=form.cleaned_data["grace_hours"])
    except services.KeyNotChanged as exc:
        messages.error(request, exc.message)
        return redirect("dashboard:keys")
    return _keys_page(request, form=ApiKeyCreateForm(), issued=issued, rotated=api_key,
                      grace_hours=form.cleaned_data["grace_hours"])
