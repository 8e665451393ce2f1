"""The Content-Security-Policy in a real Chromium: the main pages work under it and it refuses nothing they need.

A page that broke the policy (an inline script or style, a script from elsewhere) shows it in the console
("Refused to ...") and fires a ``securitypolicyviolation`` event; both are collected here.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RUN_TIMEOUT = 90_000  # ms: the first job of a model loads it in the worker


@pytest.fixture
def violations(page) -> list[str]:
    found: list[str] = []
    page.on("console", lambda message: found.append(message.text) if "Refused to" in message.text else None)
    page.add_init_script("""document.addEventListener("securitypolicyviolation", (event) => {
        console.error(`Refused to load (CSP ${event.violatedDirective}): ${event.blockedURI} ${event.sample}`);
    });""")
    return found


def test_main_pages_run_under_the_policy(page, live_server, user, violations):
    page.goto("/login/")
    expect(page.locator("h1")).to_have_text("Log in")
    log_in(page, user)
    expect(page.locator("h1").first).to_be_visible()

    page.goto("/keys/")
    page.fill("#id_name", "laptop")
    page.click("button:has-text('Create key')")
    expect(page.get_by_test_id("new-key")).to_have_text(re.compile(r"^\w+\.\w+$"))
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.click("button.copy")  # static/js/copy.js runs
    expect(page.locator("button.copy")).to_have_text("Copied")

    for path in ("/usage/", "/models/", "/sandbox/emotion/reference/"):
        page.goto(path)
        expect(page.locator("h1").first).to_be_visible()

    page.goto("/sandbox/emotion/")
    page.click("#use-example")  # static/sandbox/main.js (an ES module) runs
    expect(page.locator("#f-text")).not_to_have_value("")
    page.click("#toggle-request")
    expect(page.locator("#snippet")).to_contain_text("/api/emotion")

    page.goto("/api/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Forwardpass API", timeout=30_000)
    expect(page.locator(".opblock").first).to_be_visible()
    assert violations == []
    page.goto("/api/redoc")
    expect(page.locator("h1").first).to_contain_text("Forwardpass API", timeout=30_000)
    # ReDoc's bundle draws a "docs by Redocly" logo from its CDN; the policy keeps it out, as the docs
    # load nothing from outside (tests/api/test_docs.py). Refusing it is the policy working, nothing broken.
    assert [text for text in violations if "https://cdn.redoc.ly/" not in text] == []


def test_admin_and_lockout_pages_run_under_the_policy(page, live_server, violations):
    get_user_model().objects.create_superuser(username="ops", email="ops@example.com", password="ops-pass-word")
    page.goto("/admin/login/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", "ops-pass-word")
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")
    page.goto("/admin/dashboard/userapikey/")
    expect(page.locator("#content h1")).to_be_visible()
    page.goto("/admin/auth/user/1/change/")
    expect(page.locator("#content h1")).to_be_visible()
    assert violations == []


@pytest.mark.usefixtures("celery_worker")
def test_probability_bars_are_drawn_under_the_policy(page, live_server, user, tiny_models, tmp_path, violations):
    from PIL import Image

    photo = tmp_path / "square.png"
    Image.new("RGB", (64, 48), (200, 120, 40)).save(photo)
    log_in(page, user)
    page.goto("/sandbox/image-classification/?model=tiny-clip")
    page.set_input_files("#f-image", str(photo))
    page.fill("#f-labels", "cat, dog")
    page.click("#run")
    expect(page.locator("#progress")).to_have_text(re.compile(r"Done|Failed"), timeout=RUN_TIMEOUT)
    bars = page.locator(".sb-bar")
    expect(bars).to_have_count(2)
    widths = [bar.evaluate("node => node.getBoundingClientRect().width") for bar in bars.all()]
    assert sum(widths) > 0 and max(widths) > 10, widths  # the width the script set was applied
    assert violations == []
