"""Security headers: a Content-Security-Policy on every page, no-store on a page showing a new key,
and the proxy's X-Forwarded-Proto trusted only when a setting says so."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.urls import reverse

from inference.registry import public_kinds

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
ANONYMOUS_PAGES = ["/login/", "/signup/", "/password/reset/", "/admin/login/", "/api/docs", "/no-such-page/"]
PAGES = [
    "/", "/welcome/", "/keys/", "/usage/", "/models/",
    "/password/change/", "/sandbox/emotion/", "/sandbox/emotion/reference/", "/api/docs", "/api/redoc",
    "/admin/", "/admin/dashboard/userapikey/", "/admin/inference/inferencejob/", "/no-such-page/",
] + [f"/sandbox/{kind.name}/" for kind in public_kinds()]


def directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    parts = [part.strip().split() for part in header.split(";") if part.strip()]
    return {part[0]: part[1:] for part in parts}


@pytest.fixture
def staff_client(client):
    staff = get_user_model().objects.create_superuser(username="ops", email="ops@example.com", password="x-pass-1")
    client.force_login(staff)
    return client


@pytest.mark.parametrize("path", PAGES)
def test_every_page_has_a_csp_without_inline_script(staff_client, path):
    _assert_strict_policy(staff_client.get(path), path)


@pytest.mark.parametrize("path", ANONYMOUS_PAGES)
def test_every_page_seen_logged_out_has_a_csp_without_inline_script(client, path):
    _assert_strict_policy(client.get(path), path)


def _assert_strict_policy(response, path: str) -> None:
    assert response.status_code in (200, 404), response.status_code
    policy = directives(response)
    assert policy["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval'
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    assert policy["default-src"] == ["'self'"]
    if not path.startswith("/api/"):
        assert policy["style-src"] == ["'self'"]
    html = response.content.decode()
    # Scripts come from files: no inline <script> block and no on* handler in what the page sends.
    # (A <script type="application/json"> is data the page's script reads, never run.)
    assert not re.search(r"<script(?![^>]*\b(?:src=|type=\"application/json\"))[^>]*>", html), path
    assert not re.search(r"<[^>]+\son[a-z]+\s*=", html), path


def test_the_lockout_page_has_a_csp(client, user):
    cache.clear()
    for _ in range(25):
        response = client.post("/login/", {"username": "alice", "password": "wrong"}, REMOTE_ADDR="10.9.9.9")
    assert response.status_code == 429
    assert directives(response)["script-src"] == ["'self'"]
    cache.clear()


def test_the_swagger_start_script_is_a_file_of_its_own(client):
    html = client.get("/api/docs").content.decode()
    script = re.search(r'<script src="(/api/docs\?[^"]*script[^"]*)"', html)
    assert script, "Swagger UI's start script is loaded from the docs view, not inline"
    response = client.get(script.group(1).replace("&amp;", "&"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in response.content.decode()


def test_a_page_showing_a_new_key_is_never_cached(client, user):
    client.force_login(user)
    created = client.post(reverse("dashboard:keys"), {"name": "laptop"})
    assert created.status_code == 201
    assert "no-store" in created["Cache-Control"]
    prefix = created.context["issued"].api_key.prefix
    rotated = client.post(reverse("dashboard:key_rotate", args=[prefix]), {"grace_hours": 1})
    assert rotated.status_code == 200 and rotated.context["issued"] is not None
    assert "no-store" in rotated["Cache-Control"]
    # The list without a key shown may be cached as Django does by default (nothing is set).
    assert "no-store" not in client.get(reverse("dashboard:keys")).get("Cache-Control", "")


def _settings_in_a_fresh_process(**env: str) -> dict:
    code = ("import django, json; django.setup(); from django.conf import settings; "
            "print(json.dumps({'proxy': settings.SECURE_PROXY_SSL_HEADER}))")
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **env}
    environment.pop("BEHIND_TLS_PROXY", None) if "BEHIND_TLS_PROXY" not in env else None
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True,
                         timeout=120, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_x_forwarded_proto_is_trusted_only_behind_a_tls_proxy():
    assert _settings_in_a_fresh_process()["proxy"] is None
    assert _settings_in_a_fresh_process(BEHIND_TLS_PROXY="0")["proxy"] is None
    assert _settings_in_a_fresh_process(BEHIND_TLS_PROXY="1")["proxy"] == ["HTTP_X_FORWARDED_PROTO", "https"]


def test_a_client_cannot_claim_https_on_a_plain_http_site(client):
    response = client.get("/api/health", HTTP_X_FORWARDED_PROTO="https")
    assert response.wsgi_request.is_secure() is False
