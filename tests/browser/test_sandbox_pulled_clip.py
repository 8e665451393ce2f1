"""A hub CLIP pulled with ``models pull`` shows up in the sandbox and runs the tutorial's image-classification step.

The hub is tests/hubmirror.py (the real ``huggingface_hub`` against a local server holding a tiny random CLIP
under the catalog's repo id and revision); the pull is the real command in its own process, installing into this
test run's ``MODELS_DIR``, which the session's worker reads too; the job runs on that worker.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys

import pytest
from django.conf import settings
from playwright.sync_api import expect

from config.celery import app
from inference.catalog import catalog_get, hub_install_dir
from inference.models import InferenceJob

from .conftest import log_in, screenshot
from .test_sandbox import RUN_TIMEOUT, SHARED_IMAGES, TUTORIAL_LABELS, run_and_wait

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

MODEL = "clip-vit-base-patch32"
LABELS = [label.strip() for label in TUTORIAL_LABELS.split(",")]


@pytest.fixture
def not_installed(hub):
    """The catalog's hub CLIP absent from this run's ``MODELS_DIR`` before the test, and removed after it."""
    target = hub_install_dir(MODEL)
    assert not target.exists(), f"{target} is left over from another test"
    yield hub
    shutil.rmtree(target, ignore_errors=True)
    assert not catalog_get(MODEL).installed


def _consumed_queues(worker_name: str) -> set[str]:
    replies = app.control.inspect(destination=[f"{worker_name}@{socket.gethostname()}"], timeout=5).active_queues()
    return {queue["name"] for queues in (replies or {}).values() for queue in queues}


def test_a_pulled_clip_is_listed_as_installed_and_classifies_the_tutorial_photo(page, live_server, user,
                                                                               not_installed, celery_worker):
    spec = catalog_get(MODEL)
    assert spec.queue in _consumed_queues(celery_worker.name)  # the worker that will serve it
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, user)

    # Not installed: listed, not a link, with the command that installs it.
    page.goto("/sandbox/image-classification/")
    entry = page.locator(f".sb-models li:has([data-model='{MODEL}'])")
    expect(entry).to_have_class(re.compile(r"\bsb-unavailable\b"))
    expect(entry.locator("a")).to_have_count(0)
    expect(entry.locator(".help")).to_contain_text(f"python manage.py models pull {MODEL}")
    expect(entry.locator(".help")).to_contain_text(f"{spec.hub_repo} at revision {spec.hub_revision}")
    screenshot(page, "sandbox-image-classification-clip-not-installed")
    page.goto(f"/sandbox/image-classification/?model={MODEL}")
    expect(page.get_by_role("alert")).to_contain_text(f"The model “{MODEL}” is not available")

    # Installed by the command an operator runs.
    done = subprocess.run([sys.executable, "manage.py", "models", "pull", MODEL, "--endpoint", not_installed.url],
                          cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"installed {MODEL} at {hub_install_dir(MODEL)}" in done.stdout

    # After a reload it is a model to pick.
    page.goto("/sandbox/image-classification/")
    link = page.locator(f".sb-models a[data-model='{MODEL}']")
    expect(link).to_have_text(spec.name)
    expect(page.locator(f".sb-models li:has([data-model='{MODEL}']) .help")).to_have_count(0)
    link.click()
    page.wait_for_url(f"**/sandbox/image-classification/?model={MODEL}")
    expect(page.get_by_test_id("model-name")).to_have_text(spec.name)
    expect(link).to_have_attribute("aria-current", "true")

    # The tutorial's step: a photo and free labels; CLIP scores every label (a random CLIP, so only the shape).
    expect(page.locator(".sb-preview")).to_be_hidden()  # no broken image before a photo is chosen
    page.set_input_files("#f-image", str(SHARED_IMAGES / "chelsea.png"))
    expect(page.locator(".sb-preview")).to_be_visible()
    page.fill("#f-labels", TUTORIAL_LABELS)
    bars = run_and_wait(page, "[data-testid=probability-bar]")
    expect(page.locator("#progress")).to_have_text(re.compile(r"^Done"), timeout=RUN_TIMEOUT)
    expect(page.locator(".sb-error")).to_have_count(0)
    expect(bars).to_have_count(len(LABELS))
    assert sorted(page.locator(".sb-bar-label").all_inner_texts()) == sorted(LABELS)
    values = [float(v.rstrip("%")) for v in page.locator(".sb-bar-value").all_inner_texts()]
    assert values == sorted(values, reverse=True) and abs(sum(values) - 100) < 1
    expect(page.get_by_test_id("unmatched")).to_have_count(0)  # CLIP takes any label
    screenshot(page, "sandbox-image-classification-pulled-clip")
    job = InferenceJob.objects.get(owner=user)
    assert (job.task_kind, job.model_key, job.status) == ("image-classification", MODEL, "succeeded")

    # The request view names the model.
    page.click("#toggle-request")
    expect(page.locator("#snippet")).to_contain_text(f'"model": "{MODEL}"')
    screenshot(page, "request-view-pulled-clip")
    assert errors == []
