"""Adding a task kind is one file: a new kind appears everywhere from its declaration alone.

``tests/extra_kinds/text_length.py`` holds a whole kind, written as a kind in ``inference/kinds/`` is.
The registry discovers kinds from ``inference/kinds/`` and from the packages named by the setting
``TASK_KIND_MODULES``, so the test names the package in the environment of a web server (uvicorn,
as production serves it) and a Celery worker it starts, nothing else changed: no registry list, no
URL, no catalog entry's ``kinds``, no schema, template or script. The kind's default model is a local
model of the echo family (an operator's ``LOCAL_MODELS_FILE`` entry, listing no kinds: it serves the
kind because the kind names it). Then the API endpoint answers through the worker, ``GET /api/tasks``
and the OpenAPI document list it, the sandbox page has its generated form, its request snippet runs,
its reference page renders, and the README generator lists it.

Why processes of their own rather than this one: URLs and the OpenAPI document are built from the
registry when Django imports them, once per process, so a kind registered here after start-up would
test a reload trick rather than what a deployment does.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from django.conf import settings
from playwright.sync_api import expect

from dashboard.services import api_key_create
from inference.registry import KINDS
from tests.api.conftest import LiveServer
from tests.workers import ROOT, Worker

from .conftest import log_in, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

KIND = "text-length"
EXAMPLE = "One small step for a man,\none giant leap for mankind."


@pytest.fixture
def kind_env(tmp_path, tiny_models):
    """The environment that adds the kind: its package, and a local echo model as its default model."""
    (tmp_path / "plain-text").mkdir()
    plain_text = {"id": "plain-text", "name": "Plain text", "family": "echo", "kinds": [],
                  "path": str(tmp_path / "plain-text"), "description": "Hands its text back; text-length counts it."}
    models = [*json.loads(Path(settings.LOCAL_MODELS_FILE).read_text()), plain_text]
    models_file = tmp_path / "local-models.json"
    models_file.write_text(json.dumps(models))
    return {"TASK_KIND_MODULES": "tests.extra_kinds", "LOCAL_MODELS_FILE": str(models_file)}


@pytest.fixture
def servers(kind_env):
    server = LiveServer(extra_env=kind_env, name="uvicorn-text-length")
    worker = Worker(name="text-length", models="plain-text", extra_env=kind_env)
    try:
        worker.start()
        yield server
    finally:
        worker.stop()
        server.stop()


def test_a_kind_from_one_file_gets_its_endpoint_schema_page_snippets_and_reference(servers, kind_env, browser,
                                                                                     user):
    assert KIND not in KINDS  # this process never loaded it: everything below comes from the one file
    key = api_key_create(user=user, name="text-length").plaintext

    # The endpoint, through the worker; a list in gives a list out.
    answer = requests.post(f"{servers.url}/api/{KIND}", json={"text": EXAMPLE}, headers={"x-api-key": key},
                           timeout=60)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"characters": 53, "words": 11, "lines": 2}
    assert answer.headers["X-Model"] == "plain-text"
    many = requests.post(f"{servers.url}/api/{KIND}", json={"text": ["a b", "c"]}, headers={"x-api-key": key},
                         timeout=60)
    assert many.json() == {"characters": [3, 1], "words": [2, 1], "lines": [1, 1]}
    refused = requests.post(f"{servers.url}/api/{KIND}", json={"text": "x" * 10_001}, headers={"x-api-key": key},
                            timeout=60)
    assert refused.status_code == 400 and refused.json()["error"]["fields"] == {"text": [
        "text: at most 10,000 characters (got 10,001)"]}

    # The catalog and the OpenAPI document.
    tasks = requests.get(f"{servers.url}/api/tasks", headers={"x-api-key": key}, timeout=10).json()["tasks"]
    listed = next(task for task in tasks if task["name"] == KIND)
    assert listed["default_model"] == "plain-text"
    schema = requests.get(f"{servers.url}/api/schema", headers={"accept": "application/json"}, timeout=30).json()
    operation = schema["paths"][f"/api/{KIND}"]["post"]
    assert operation["summary"] == "Text length"
    assert schema["components"]["schemas"]["TextLengthRequest"]["properties"]["text"]["oneOf"][1]["maxItems"] == 16
    assert set(schema["components"]["schemas"]["TextLengthResponse"]["required"]) == {"characters", "words", "lines"}

    # The sandbox page: the generated form, a run through the worker, the request snippet that runs as shown.
    context = browser.new_context(base_url=servers.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    try:
        log_in(page, user)
        page.goto(f"/sandbox/{KIND}/")
        expect(page.locator("#kind-title")).to_have_text("Text length")
        expect(page.locator(f'nav a[href="/sandbox/{KIND}/"]')).to_have_count(1)
        page.click("#use-example")
        expect(page.locator("#f-text")).to_have_value(EXAMPLE)
        page.click("#run")
        expect(page.locator("#progress")).to_have_text(re.compile(r"Done|Failed"), timeout=60_000)
        expect(page.locator("#output")).to_contain_text('"characters": 53')
        screenshot(page, "sandbox-text-length")

        page.click("#toggle-request")
        snippet = page.locator("#snippet")
        expect(snippet).to_contain_text(f"/api/{KIND}")
        command = snippet.get_attribute("data-full").replace("your-api-key", key)
        done = subprocess.run(["bash", "-c", command + " -s --max-time 60"], capture_output=True, text=True,
                              timeout=90)
        assert json.loads(done.stdout) == {"characters": 53, "words": 11, "lines": 2}, done.stderr

        # The reference page: every parameter with its bounds, the response, and what serves the kind.
        page.goto(f"/sandbox/{KIND}/reference/")
        expect(page.locator("h1")).to_have_text("Text length reference")
        expect(page.locator('tr[data-param="text"]')).to_contain_text("up to 10,000 characters")
        expect(page.locator(".sb-ref")).to_contain_text("words: Words: runs of characters between spaces")
        expect(page.locator("#serving")).to_contain_text("plain-text (the default)")
        expect(page.locator("#serving")).to_contain_text("echo")
    finally:
        context.close()

    # The README's list of kinds, generated from the declarations, has it too.
    readme = Path(settings.DATA_DIR) / "README-text-length.md"
    readme.write_text((ROOT / "README.md").read_text())
    env = {**os.environ, **kind_env, "DEBUG": "1"}
    subprocess.run([sys.executable, "manage.py", "docs_kinds", "--file", str(readme)], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=120)
    assert "| `text-length` | Counts the characters, words and lines of a text. | `text` (or a list) |" in (
        readme.read_text())
    stale = subprocess.run([sys.executable, "manage.py", "docs_kinds", "--check"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=120)
    assert stale.returncode != 0 and "stale" in stale.stderr
