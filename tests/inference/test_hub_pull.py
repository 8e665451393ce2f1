"""``models pull`` against a local hub mirror (tests/hubmirror.py): every hub model of the catalog.

The mirror is a real HTTP server speaking the hub's API to the real ``huggingface_hub``; only the
models are tiny. What a user sees: the command's output, what lands in ``MODELS_DIR``, one-line errors.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from inference.catalog import COMMIT_HASH_RE, MODELS, catalog_get, entries, hub_install_dir
from inference.catalog.install import model_pull
from tests.hubmirror import NOT_FETCHED, hub_builders

HUB_MODELS = [spec for spec in MODELS if spec.source == "hub"]
NOT_PINNED_YET = {"t5-base-qa-summary-emotion"}  # its commit could not be checked from here; see catalog.py
ROOT = Path(__file__).resolve().parents[2]


def _visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) if folder.exists() else []


def _partials(folder: Path) -> list[Path]:
    return list(folder.glob(".*.partial-*")) if folder.exists() else []


@pytest.fixture
def models_dir(settings, tmp_path):
    settings.MODELS_DIR = tmp_path / "models"
    return settings.MODELS_DIR


def test_every_hub_model_is_pinned_to_a_commit_and_held_by_the_mirror():
    assert {spec.id for spec in HUB_MODELS} <= set(hub_builders())
    for spec in HUB_MODELS:
        if spec.id in NOT_PINNED_YET:
            continue
        assert COMMIT_HASH_RE.fullmatch(spec.hub_revision), (spec.id, spec.hub_revision)


@pytest.mark.parametrize("spec", HUB_MODELS, ids=lambda spec: spec.id)
def test_models_pull_installs_each_hub_model_and_a_second_pull_is_a_no_op(hub, models_dir, spec):
    out = StringIO()
    call_command("models", "pull", spec.id, "--endpoint", hub.url, stdout=out)
    target = hub_install_dir(spec.id)
    assert f"pulling {spec.hub_repo} at revision {spec.hub_revision}" in out.getvalue()
    assert f"installed {spec.id} at {target}" in out.getvalue()
    installed = catalog_get(spec.id)
    assert installed.installed and installed.path == target
    files = _visible(target)
    assert "config.json" in files and "model.safetensors" in files
    assert not set(files) & {name.split("/")[0] for name in NOT_FETCHED}, files  # no .bin, card, onnx
    assert not (target / ".cache").exists()
    assert _visible(models_dir) == [spec.id] and not _partials(models_dir)
    # the files are the mirror's, byte for byte
    served = hub.repos[spec.hub_repo].files
    assert all((target / name).read_bytes() == served[name] for name in files)

    hub.requests.clear()
    again = StringIO()
    call_command("models", "pull", spec.id, "--endpoint", hub.url, stdout=again)
    assert again.getvalue().strip() == f"{spec.id} is already installed at {target}."
    assert hub.requests == []  # nothing asked of the hub


def test_pull_of_a_revision_the_hub_does_not_have_fails_with_one_line(hub, models_dir, monkeypatch):
    spec = catalog_get("clip-vit-base-patch32")
    missing = "f" * 40
    monkeypatch.setitem(entries._BY_ID, spec.id, dataclasses.replace(spec, hub_revision=missing))
    with pytest.raises(CommandError) as exc:
        call_command("models", "pull", spec.id, "--endpoint", hub.url, stdout=StringIO())
    assert str(exc.value) == f"the Hugging Face hub has no revision '{missing}' of openai/clip-vit-base-patch32."
    assert _visible(models_dir) == [] and not _partials(models_dir)


def test_pull_refuses_a_hub_that_answers_with_another_commit(hub, models_dir):
    spec = catalog_get("bart-large-mnli")
    hub.wrong_info_commit.add(spec.hub_repo)
    with pytest.raises(CommandError) as exc:
        call_command("models", "pull", spec.id, "--endpoint", hub.url, stdout=StringIO())
    assert str(exc.value) == (f"asked for {spec.hub_repo} at revision {spec.hub_revision}, the hub answered with "
                              f"commit {'2' * 40}; nothing was installed.")
    assert _visible(models_dir) == [] and not _partials(models_dir)


def test_pull_refuses_a_file_that_comes_from_another_commit(hub, models_dir):
    spec = catalog_get("distilgpt2")
    hub.wrong_commit.add(spec.hub_repo)
    with pytest.raises(CommandError) as exc:
        call_command("models", "pull", spec.id, "--endpoint", hub.url, stdout=StringIO())
    message = str(exc.value)
    assert f"came from commit {'0' * 40}, not what revision {spec.hub_revision} holds" in message
    assert "nothing was installed" in message and "\n" not in message
    assert _visible(models_dir) == [] and not _partials(models_dir)
    assert not catalog_get(spec.id).installed


def test_pull_refuses_weights_that_do_not_match_the_revision(hub, models_dir):
    spec = catalog_get("distilbert-base-cased-distilled-squad")
    hub.tampered.add((spec.hub_repo, "model.safetensors"))
    with pytest.raises(CommandError) as exc:
        call_command("models", "pull", spec.id, "--endpoint", hub.url, stdout=StringIO())
    assert str(exc.value).startswith(f"model.safetensors of {spec.hub_repo} does not have the sha256 the revision "
                                     f"lists")
    assert _visible(models_dir) == [] and not _partials(models_dir)
    hub.tampered.clear()
    model_pull(model_id=spec.id, endpoint=hub.url)  # the real files install
    assert catalog_get(spec.id).installed


def test_an_interrupted_pull_leaves_nothing_half_installed(hub, settings, tmp_path):
    """``models pull`` killed half-way through the weights (Ctrl-C, a reboot): no model appears; the next pull
    clears the leftovers and installs it."""
    spec = catalog_get("clip-vit-base-patch32")
    release = hub.stall.setdefault((spec.hub_repo, "model.safetensors"), threading.Event())
    data_dir = tmp_path / "data"
    process = subprocess.Popen([sys.executable, "manage.py", "models", "pull", spec.id, "--endpoint", hub.url],
                               cwd=ROOT, env={**os.environ, "DATA_DIR": str(data_dir)},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        assert hub.stalled.wait(90), "the pull never reached the weights"
        models = data_dir / "models"
        deadline = time.monotonic() + 10
        while not any(p.is_file() for partial in _partials(models) for p in partial.rglob("*")):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        release.set()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    settings.MODELS_DIR = models
    assert _visible(models) == []  # only a hidden partial folder is left
    assert not catalog_get(spec.id).installed
    assert _partials(models)

    hub.reset_faults()
    result = model_pull(model_id=spec.id, endpoint=hub.url)
    assert not result.already_installed and catalog_get(spec.id).installed
    assert _visible(models) == [spec.id] and not _partials(models)
