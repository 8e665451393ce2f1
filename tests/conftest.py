"""Shared fixtures: users, keys, a real Celery worker on a real Redis."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from dashboard.services import api_key_create
from inference.models import InferenceJob

from .workers import Worker, flush_queues


@pytest.fixture
def user(db):
    return get_user_model().objects.create_user(username="alice", email="alice@example.com",
                                                password="s3cret-pass-word")


@pytest.fixture
def other_user(db):
    return get_user_model().objects.create_user(username="bob", email="bob@example.com", password="s3cret-pass-word")


@pytest.fixture
def issued_key(user):
    return api_key_create(user=user, name="test key")


@pytest.fixture
def api_client(issued_key):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_X_API_KEY=issued_key.plaintext)
    return client


GOEMOTIONS_LABELS = (
    "admiration amusement anger annoyance approval caring confusion curiosity desire disappointment disapproval "
    "disgust embarrassment excitement fear gratitude grief joy love nervousness optimism pride realization relief "
    "remorse sadness surprise neutral"
).split()


@pytest.fixture(scope="session")
def tiny_models():
    """Tiny real models (random weights) built at test time, installed as local models.

    Written to ``LOCAL_MODELS_FILE`` (set by tests/testenv.py), which both this
    process and the workers read, so they are catalog models like any other.
    """
    from django.conf import settings

    from . import tinymodels

    root = Path(settings.DATA_DIR) / "tiny-models"
    builders = {
        "tiny-emotion": (lambda p: tinymodels.build_tiny_bert_classifier(p, labels=GOEMOTIONS_LABELS, multi_label=True),
                         "sequence-classifier", ["emotion"]),
        "tiny-gpt2": (tinymodels.build_tiny_gpt2, "causal-lm", ["text-generation", "qa", "summarisation"]),
        "tiny-chat": (tinymodels.build_tiny_chat_gpt2, "causal-lm", ["chat", "text-generation"]),
        "tiny-t5": (tinymodels.build_tiny_t5, "seq2seq", ["text-generation", "qa", "summarisation"]),
        "tiny-clip": (tinymodels.build_tiny_clip, "clip",
                      ["image-classification", "image-vectorisation", "image-text-vectorisation",
                       "text-vectorisation"]),
        "tiny-encoder": (tinymodels.build_tiny_sentence_encoder, "sentence-encoder",
                         ["text-vectorisation", "text-classification"]),
        "tiny-nli": (tinymodels.build_tiny_nli, "nli", ["text-classification"]),
        "tiny-qa": (tinymodels.build_tiny_extractive_qa, "extractive-qa", ["qa"]),
    }
    # Kept between runs, rebuilt when tinymodels.py changes.
    stamp = hashlib.sha256(Path(tinymodels.__file__).read_bytes()).hexdigest()
    entries = []
    for model_id, (build, family, kinds) in builders.items():
        folder = root / model_id
        built_by = folder / ".built-by"
        if not (folder / "config.json").exists() or not built_by.exists() or built_by.read_text() != stamp:
            if folder.exists():
                shutil.rmtree(folder)
            build(folder)
            built_by.write_text(stamp)
        entries.append({"id": model_id, "name": model_id, "family": family, "kinds": kinds, "path": str(folder),
                        "description": "A tiny model with random weights, built by the tests."})
    Path(settings.LOCAL_MODELS_FILE).write_text(json.dumps(entries, indent=1))
    return {entry["id"]: entry for entry in entries}


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker, tiny_models):
    """One worker for every model, shared by the session (models stay loaded).

    Its metrics go to ``worker.metrics_dir`` (prometheus-client's multiprocess mode), where a test scrapes them.
    """
    from django.conf import settings

    flush_queues()
    metrics_dir = Path(settings.DATA_DIR) / "prometheus-session-worker"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    worker = Worker(name="session", extra_env={"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}).start()
    worker.metrics_dir = metrics_dir
    yield worker
    worker.stop()


def wait_for_job(job_id, *, timeout: float = 60.0) -> InferenceJob:
    """Poll the row until the job ends (tests only; the API waits on Redis events)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = InferenceJob.objects.get(id=job_id)
        if job.is_terminal:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s (status {job.status})")


@pytest.fixture(scope="session")
def hub_mirror():
    """A local Hugging Face hub (tests/hubmirror.py) serving a tiny model for every hub model of the catalog,
    under the catalog's repo ids and pinned revisions. Tiny models are built once and kept between runs."""
    from django.conf import settings

    from inference.catalog import COMMIT_HASH_RE, MODELS

    from . import hubmirror, tinymodels

    stamp = hashlib.sha256(Path(tinymodels.__file__).read_bytes()).hexdigest()
    root = Path(settings.DATA_DIR) / "tiny-hub"
    mirror = hubmirror.HubMirror()
    builders = hubmirror.hub_builders()
    for spec in MODELS:
        if spec.source != "hub":
            continue
        build = builders[spec.id]
        folder = root / build.__name__
        built_by = folder / ".built-by"
        if not built_by.exists() or built_by.read_text() != stamp:
            if folder.exists():
                shutil.rmtree(folder)
            build(folder)
            built_by.write_text(stamp)
        sha = spec.hub_revision if COMMIT_HASH_RE.fullmatch(spec.hub_revision) else hashlib.sha1(  # noqa: S324
            spec.hub_repo.encode()).hexdigest()
        mirror.add(spec.hub_repo, sha, folder, extra=hubmirror.NOT_FETCHED)
    mirror.start()
    yield mirror
    mirror.stop()


@pytest.fixture
def hub(hub_mirror):
    """The session's hub mirror with no faults turned on, and none left on after the test."""
    hub_mirror.reset_faults()
    yield hub_mirror
    hub_mirror.reset_faults()
