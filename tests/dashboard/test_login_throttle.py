"""Login throttling (django-axes): every login page, per account and per address, atomic under parallel guesses."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from rest_framework.test import APIClient

from dashboard.services import api_key_create

from .hashers import CountingPBKDF2PasswordHasher

PASSWORD = "the-right-pass-word"
PAGES = ["/login/", "/admin/login/"]


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def fast_hasher(settings):
    # 25 checks per test with the production hasher would take half a minute on a shared CPU.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def staff(db, fast_hasher):
    return get_user_model().objects.create_user(username="ops", email="ops@example.com", password=PASSWORD,
                                                is_staff=True, is_superuser=True)


def _post(client, page: str, username: str, password: str, address: str = "10.0.0.1"):
    return client.post(page, {"username": username, "password": password}, REMOTE_ADDR=address)


def _logged_in(response) -> bool:
    return response.status_code == 302 and "/login/" not in response["Location"]


@pytest.mark.django_db
@pytest.mark.parametrize("failing_page", PAGES)
def test_25_wrong_passwords_lock_the_account_on_every_login_page(client, staff, settings, failing_page):
    assert settings.LOGIN_FAILURE_LIMIT == 25
    for attempt in range(1, 25):
        response = _post(client, failing_page, "ops", f"wrong-{attempt}")
        assert response.status_code == 200, attempt  # the form again, "please enter a correct username"
    response = _post(client, failing_page, "ops", "wrong-25")
    assert response.status_code == 429
    for page in PAGES:
        # Even the right password is refused, from another address too: the account is locked.
        response = _post(client, page, "ops", PASSWORD, address="10.0.0.99")
        assert response.status_code == 429, page
        assert "Too many failed logins" in response.content.decode()
        assert "After 25 failed attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_25_failures_from_one_address_lock_that_address_for_every_account(client, staff):
    for attempt in range(25):
        _post(client, "/login/", f"guess-{attempt}", "wrong", address="10.0.0.7")
    for page in PAGES:
        assert _post(client, page, "ops", PASSWORD, address="10.0.0.7").status_code == 429, page
    # The account itself is not locked: from another address its owner still logs in.
    assert _logged_in(_post(client, "/login/", "ops", PASSWORD, address="10.0.0.8"))


@pytest.mark.django_db
def test_behind_the_tls_proxy_each_client_address_is_locked_alone(client, staff, settings):
    settings.BEHIND_TLS_PROXY = True
    proxy = "10.0.0.1"  # every request comes from the proxy; it appends the client's address
    for attempt in range(25):
        client.post("/login/", {"username": f"guess-{attempt}", "password": "wrong"}, REMOTE_ADDR=proxy,
                    HTTP_X_FORWARDED_FOR=f"forged-{attempt}, 203.0.113.5")
    response = client.post("/login/", {"username": "ops", "password": PASSWORD}, REMOTE_ADDR=proxy,
                           HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert response.status_code == 429
    response = client.post("/login/", {"username": "ops", "password": PASSWORD}, REMOTE_ADDR=proxy,
                           HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert _logged_in(response)


@pytest.mark.django_db
def test_without_the_proxy_setting_a_forged_forwarded_for_changes_nothing(client, staff):
    for attempt in range(25):
        client.post("/login/", {"username": f"guess-{attempt}", "password": "wrong"}, REMOTE_ADDR="10.0.0.3",
                    HTTP_X_FORWARDED_FOR=f"192.0.2.{attempt}")
    response = client.post("/login/", {"username": "ops", "password": PASSWORD}, REMOTE_ADDR="10.0.0.3",
                           HTTP_X_FORWARDED_FOR="192.0.2.200")
    assert response.status_code == 429


@pytest.mark.django_db
def test_a_successful_login_starts_the_count_again(client, staff):
    for _ in range(24):
        assert _post(client, "/login/", "ops", "wrong").status_code == 200
    assert _logged_in(_post(client, "/login/", "ops", PASSWORD))
    client.logout()
    for _ in range(24):
        assert _post(client, "/login/", "ops", "wrong").status_code == 200
    assert _logged_in(_post(client, "/login/", "ops", PASSWORD))


@pytest.mark.django_db
def test_failed_api_keys_do_not_lock_anyone_out(client, staff):
    issued = api_key_create(user=staff, name="ci")
    api = APIClient()
    for _ in range(30):
        response = api.get("/api/me", HTTP_X_API_KEY="nope.wrong-secret", REMOTE_ADDR="10.0.0.1")
        assert response.status_code == 401
    assert api.get("/api/me", HTTP_X_API_KEY=issued.plaintext, REMOTE_ADDR="10.0.0.1").status_code == 200
    assert _logged_in(_post(client, "/login/", "ops", PASSWORD))


@pytest.mark.django_db(transaction=True)
def test_parallel_guesses_get_no_more_password_checks_than_the_limit(live_server, settings):
    """40 guesses at once through a real threaded server: at most 25 passwords are checked, the rest refused."""
    settings.PASSWORD_HASHERS = ["tests.dashboard.hashers.CountingPBKDF2PasswordHasher"]
    get_user_model().objects.create_user(username="target", password=PASSWORD)
    CountingPBKDF2PasswordHasher.checks = 0
    with httpx.Client(base_url=live_server.url) as browser:
        browser.get("/login/")
        token = browser.cookies["csrftoken"]

    def guess(number: int) -> int:
        with httpx.Client(base_url=live_server.url, cookies={"csrftoken": token}, timeout=120) as session:
            return session.post("/login/", data={"username": "target", "password": f"wrong-{number}",
                                                 "csrfmiddlewaretoken": token}).status_code

    with ThreadPoolExecutor(max_workers=40) as pool:
        statuses = list(pool.map(guess, range(40)))
    assert set(statuses) <= {200, 429}, statuses
    assert CountingPBKDF2PasswordHasher.checks <= settings.LOGIN_FAILURE_LIMIT, statuses
    assert statuses.count(429) >= 40 - settings.LOGIN_FAILURE_LIMIT, statuses
    # And the account is locked now.
    with httpx.Client(base_url=live_server.url, cookies={"csrftoken": token}) as session:
        response = session.post("/login/", data={"username": "target", "password": PASSWORD,
                                                 "csrfmiddlewaretoken": token})
    assert response.status_code == 429


@pytest.fixture
def live_asgi(django_db_setup, django_db_blocker):
    from tests.api.conftest import LiveServer

    server = LiveServer(extra_env={"LOGIN_FAILURE_LIMIT": "3"}, name="uvicorn-login-throttle")
    yield server
    server.stop()


@pytest.mark.django_db(transaction=True)
def test_lockout_over_the_live_asgi_server(live_asgi, user):
    """As production serves it (uvicorn, axes' async middleware path), with LOGIN_FAILURE_LIMIT=3."""
    import re

    import requests

    def attempt(session: requests.Session, page: str, password: str) -> requests.Response:
        form = session.get(f"{live_asgi.url}{page}", timeout=10).text
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
        return session.post(f"{live_asgi.url}{page}", data={"username": "alice", "password": password,
                                                            "csrfmiddlewaretoken": token},
                            headers={"Referer": f"{live_asgi.url}{page}"}, allow_redirects=False, timeout=30)

    browser = requests.Session()
    assert attempt(browser, "/login/", "wrong-1").status_code == 200
    assert attempt(browser, "/login/", "wrong-2").status_code == 200
    locked = attempt(browser, "/login/", "wrong-3")
    assert locked.status_code == 429 and "After 3 failed attempts" in locked.text
    assert "script-src 'self'" in locked.headers["Content-Security-Policy"]
    for page in PAGES:
        response = attempt(requests.Session(), page, "s3cret-pass-word")  # the right one
        assert response.status_code == 429, page
        assert "Too many failed logins" in response.text
