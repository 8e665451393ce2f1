"""The model catalog, the ``models`` command, and the worker's bounded model cache."""

from __future__ import annotations

import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from inference.catalog import MODELS, catalog_get, hub_install_dir
from inference.registry import FAMILIES, KINDS, public_kinds
from inference.runtime.loading import ModelCache

UNREACHABLE_HUB = "http://127.0.0.1:9"  # the discard port: refused at once, also where the real hub is reachable


# --- catalog entries --------------------------------------------------------------------


@pytest.mark.parametrize("spec", MODELS, ids=lambda spec: spec.id)
def test_catalog_entry_is_well_formed(spec):
    assert spec.kinds and set(spec.kinds) <= set(KINDS), spec.kinds
    assert spec.family in FAMILIES
    assert spec.name and spec.description
    assert spec.source in ("bundled", "hub", "builtin")
    if spec.source == "hub":
        assert spec.hub_repo.count("/") == 1 and spec.hub_revision


def test_model_ids_are_unique():
    ids = [spec.id for spec in MODELS]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("kind", public_kinds(), ids=lambda kind: kind.name)
def test_default_model_is_in_the_catalog_and_serves_the_kind(kind):
    spec = catalog_get(kind.default_model)
    assert spec is not None, kind.default_model
    assert kind.name in spec.kinds
    assert not spec.internal


@pytest.mark.parametrize("spec", [s for s in MODELS if s.source == "bundled"], ids=lambda spec: spec.id)
def test_bundled_model_is_installed(spec):
    assert spec.installed, spec.install_hint
    assert spec.path is not None and spec.path.exists()


@pytest.mark.parametrize("spec", [s for s in MODELS if s.source == "hub"], ids=lambda spec: spec.id)
def test_hub_model_is_not_installed_here_and_says_how_to_install(spec):
    assert not spec.installed
    assert spec.path is None
    assert f"python manage.py models pull {spec.id}" in spec.install_hint
    assert spec.hub_repo in spec.install_hint


# --- the models command ---------------------------------------------------------------------


def test_models_list_shows_every_model():
    out = StringIO()
    call_command("models", "list", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].split()[:2] == ["ID", "TASK"]
    rows = {line.split()[0]: line for line in lines[1:]}
    for spec in MODELS:
        if spec.internal:
            assert spec.id not in rows
            continue
        row = rows[spec.id]
        assert spec.source in row
        assert all(kind in row for kind in spec.kinds)
        if spec.installed:
            assert "  yes" in row and "models pull" not in row
        else:
            assert "  no" in row
            if spec.source == "hub":
                assert row.rstrip().endswith(f"python manage.py models pull {spec.id}")


def test_models_pull_without_the_hub_fails_fast_with_a_clear_message():
    started = time.monotonic()
    with pytest.raises(CommandError) as exc:
        call_command("models", "pull", "clip-vit-base-patch32", "--endpoint", UNREACHABLE_HUB, stdout=StringIO())
    elapsed = time.monotonic() - started
    message = str(exc.value)
    assert message.startswith("cannot reach the Hugging Face hub to download openai/clip-vit-base-patch32: ")
    assert "Copy the model folder" in message and "models/clip-vit-base-patch32/" in message
    assert "\n" not in message
    assert elapsed < 10
    assert not hub_install_dir("clip-vit-base-patch32").exists()


def test_models_pull_exits_non_zero(tmp_path):
    """As an operator runs it: a process, an exit status, one line on stderr."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    started = time.monotonic()
    done = subprocess.run([sys.executable, "manage.py", "models", "pull", "clip-vit-base-patch32", "--endpoint",
                           UNREACHABLE_HUB], cwd=root, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "DATA_DIR": str(tmp_path)})
    assert done.returncode != 0
    assert "cannot reach the Hugging Face hub" in done.stderr
    assert time.monotonic() - started < 30  # mostly Django's start-up


@pytest.mark.parametrize(("model_id", "words"), [
    ("smollm2-135m-instruct", "bundled"),
    ("no-such-model", "unknown model"),
])
def test_models_pull_of_a_model_that_is_not_on_the_hub(model_id, words):
    with pytest.raises(CommandError, match=words):
        call_command("models", "pull", model_id, stdout=StringIO())


# Pulls from a hub (a local mirror): tests/inference/test_hub_pull.py.


# --- the worker's model cache ------------------------------------------------------------------


def test_model_cache_evicts_the_least_recently_used(tiny_models):
    specs = {model_id: catalog_get(model_id) for model_id in ("tiny-encoder", "tiny-nli", "tiny-qa")}
    sizes = {model_id: ModelCache(budget_bytes=10**12).get(spec).memory_bytes() for model_id, spec in specs.items()}
    budget = 2 * max(sizes.values()) + min(sizes.values()) // 2  # room for two of them, not three
    assert sum(sizes.values()) > budget

    cache = ModelCache(budget_bytes=budget)
    encoder = cache.get(specs["tiny-encoder"])
    cache.get(specs["tiny-nli"])
    assert cache.get(specs["tiny-encoder"]) is encoder  # a hit, and now the most recently used
    assert cache.loaded() == ["tiny-nli", "tiny-encoder"]
    cache.get(specs["tiny-qa"])
    assert cache.loaded() == ["tiny-encoder", "tiny-qa"]  # tiny-nli was the least recently used
    assert cache.get(specs["tiny-encoder"]) is encoder  # never reloaded
