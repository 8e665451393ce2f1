"""The dashboard over the live ASGI server (uvicorn), as production serves it.

Session and message middleware run their hooks on the event loop under ASGI
and go to a thread only to save a session or store messages
(``config/middleware.py``); these flows do both.
"""

from __future__ import annotations

import re

import pytest
import requests

from dashboard.services import api_key_create

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "s3cret-pass-word"  # the ``user`` fixture's


def csrf_token(page: requests.Response) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert match, page.text[:500]
    return match.group(1)


def test_log_in_see_a_message_after_a_redirect_and_log_out(live_api, user):
    browser = requests.Session()
    token = csrf_token(browser.get(f"{live_api.url}/login/", timeout=10))
    refused = browser.post(f"{live_api.url}/login/", timeout=10,
                           data={"username": user.username, "password": "wrong", "csrfmiddlewaretoken": token})
    assert refused.status_code == 200 and "/login/" in refused.url

    home = browser.post(f"{live_api.url}/login/", timeout=10,
                        data={"username": user.username, "password": PASSWORD, "csrfmiddlewaretoken": token})
    assert home.status_code == 200 and home.url.rstrip("/") == live_api.url
    assert "Dashboard" in home.text

    key = api_key_create(user=user, name="to revoke")
    keys = browser.get(f"{live_api.url}/keys/", timeout=10)
    assert key.api_key.prefix in keys.text
    revoked = browser.post(f"{live_api.url}/keys/{key.api_key.prefix}/revoke/", timeout=10,
                           data={"csrfmiddlewaretoken": csrf_token(keys)})
    assert revoked.status_code == 200 and revoked.url.endswith("/keys/")
    assert "is revoked." in revoked.text  # the message survived the redirect
    assert "is revoked." not in browser.get(f"{live_api.url}/keys/", timeout=10).text  # and was shown once

    logout = browser.post(f"{live_api.url}/logout/", timeout=10, data={"csrfmiddlewaretoken": csrf_token(keys)})
    assert logout.status_code == 200
    after = browser.get(f"{live_api.url}/keys/", timeout=10)
    assert "/login/" in after.url
