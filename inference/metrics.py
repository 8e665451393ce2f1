"""The engine's Prometheus metrics: jobs, batches, loaded models, the sweeper, queue depth.

No HTTP here (``config/metrics.py`` counts requests and serves ``/metrics``). With
``PROMETHEUS_MULTIPROC_DIR`` set (``make run`` sets it) every process, web or
worker, writes its samples to files there and one scrape reads them all
(prometheus-client's multiprocess mode); unset, each process keeps its own.

Labels stay bounded and name no tenant: ``model`` is a catalog model's id
(bundled, hub or one the operator installed), and ``"uploaded"`` for every
user's own model, never its name or id; ``kind`` is a task kind of the registry.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence

import redis
from django.conf import settings
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily

from .catalog import UPLOAD_KEY_PREFIX, catalog_get, catalog_models

logger = logging.getLogger(__name__)

UPLOADED = "uploaded"
# Queues beside the models' own (fp.model.<id>): see runworker's worker_queues.
FIXED_QUEUES = ("fp.model.uploads", "fp.control", "fp.default")
QUEUE_DEPTH_TIMEOUT_S = 1.0

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

JOBS = Counter("forwardpass_jobs_total", "Jobs that ended, by task kind, model and final status.",
               ["kind", "model", "status"])
JOB_QUEUE_SECONDS = Histogram("forwardpass_job_queue_seconds", "From a job's acceptance to its (last) claim.",
                              ["kind", "model"], buckets=_SECONDS)
JOB_COMPUTE_SECONDS = Histogram("forwardpass_job_compute_seconds",
                                "A job's compute time (its share of its batch, loading apart).",
                                ["kind", "model"], buckets=_SECONDS)
BATCH_SIZE = Histogram("forwardpass_batch_size", "Jobs per forward pass.", ["kind", "model"],
                       buckets=(1, 2, 4, 8, 16, 32, 64, 128))
BATCH_SECONDS = Histogram("forwardpass_batch_seconds", "Time of one batch's run (loading apart).",
                          ["kind", "model"], buckets=_SECONDS)
MODEL_LOAD_SECONDS = Histogram("forwardpass_model_load_seconds", "Loading a model into a worker.", ["model"],
                               buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300))
# Per worker process: multiprocess mode adds a ``pid`` label and drops dead processes' values.
MODELS_LOADED = Gauge("forwardpass_worker_models_loaded", "Models loaded in a worker process.",
                      multiprocess_mode="liveall")
MODEL_MEMORY = Gauge("forwardpass_worker_model_memory_bytes", "Memory of the models loaded in a worker process.",
                     ["model"], multiprocess_mode="liveall")
SWEEPER = Counter("forwardpass_sweeper_actions_total",
                  "What the job sweeper did: requeued and failed (worker died), resent (message lost), "
                  "expired (no worker took the job).", ["action"])
for _action in ("requeued", "failed", "resent", "expired"):
    SWEEPER.labels(action=_action)

_memory_labels: set[str] = set()  # model labels this process has set a memory figure for


def model_label(model_key: str, model_id: str = "") -> str:
    """A catalog model's id, or ``"uploaded"`` for a user's own model (its key names a version id).

    ``model_id``: for jobs recorded before model keys existed (no key), a catalog id or a user's model name.
    """
    if not model_key:
        return model_id if model_id and catalog_get(model_id) is not None else UPLOADED
    return UPLOADED if model_key.startswith(UPLOAD_KEY_PREFIX) else model_key


def _job_labels(job) -> tuple[str, str]:
    return job.task_kind, model_label(job.model_key, job.model_id)


def jobs_ended(*, jobs: Iterable) -> None:
    """Jobs whose outcome was just recorded by their worker (``status``, ``queue_ms``, ``compute_ms`` set)."""
    for job in jobs:
        kind, model = _job_labels(job)
        JOBS.labels(kind=kind, model=model, status=str(job.status)).inc()
        if job.queue_ms is not None:
            JOB_QUEUE_SECONDS.labels(kind=kind, model=model).observe(job.queue_ms / 1000)
        if job.compute_ms is not None:
            JOB_COMPUTE_SECONDS.labels(kind=kind, model=model).observe(job.compute_ms / 1000)


def job_ended(*, job, status: str) -> None:
    """A job ended without an outcome of its worker (failed after its attempts, expired, cancelled)."""
    kind, model = _job_labels(job)
    JOBS.labels(kind=kind, model=model, status=str(status)).inc()


def batch_ran(*, job, size: int, seconds: float) -> None:
    """A batch of ``size`` jobs like ``job`` (one kind, one exact model) ran in ``seconds``."""
    kind, model = _job_labels(job)
    BATCH_SIZE.labels(kind=kind, model=model).observe(size)
    BATCH_SECONDS.labels(kind=kind, model=model).observe(seconds)


def model_loaded(*, model_key: str, seconds: float) -> None:
    MODEL_LOAD_SECONDS.labels(model=model_label(model_key)).observe(seconds)


def models_cached(*, sizes: Mapping[tuple[str, str], int]) -> None:
    """The worker's model cache now holds these (key, revision) -> bytes; uploaded models are summed."""
    by_label: dict[str, int] = {}
    for (key, _revision), size in sizes.items():
        label = model_label(key)
        by_label[label] = by_label.get(label, 0) + size
    MODELS_LOADED.set(len(sizes))
    for label in _memory_labels - set(by_label):
        MODEL_MEMORY.labels(model=label).set(0)  # evicted (a multiprocess series cannot be removed)
    for label, size in by_label.items():
        MODEL_MEMORY.labels(model=label).set(size)
    _memory_labels.update(by_label)


def sweep_counted(*, counts: Mapping[str, int]) -> None:
    for action, count in counts.items():
        if count:
            SWEEPER.labels(action=action).inc(count)


def known_queues() -> list[str]:
    """Every queue a worker may consume: one per catalog model (or model group), plus the fixed ones."""
    return sorted({spec.queue for spec in catalog_models()} | set(FIXED_QUEUES))


class QueueDepthCollector:
    """``forwardpass_queue_depth{queue}``: messages waiting in each queue, read from the broker at scrape time
    (one pipelined round trip, bounded by ``QUEUE_DEPTH_TIMEOUT_S``); ``forwardpass_broker_up`` says whether
    that worked."""

    def describe(self) -> Sequence:
        return []

    def collect(self):
        depth = GaugeMetricFamily("forwardpass_queue_depth", "Messages waiting in a queue of the broker.",
                                  labels=["queue"])
        up = GaugeMetricFamily("forwardpass_broker_up", "1 when the broker answered the queue depth read.")
        queues = known_queues()
        client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=QUEUE_DEPTH_TIMEOUT_S,
                                      socket_timeout=QUEUE_DEPTH_TIMEOUT_S)
        try:
            pipeline = client.pipeline(transaction=False)
            for name in queues:
                pipeline.llen(name)
            lengths = pipeline.execute()
        except (redis.RedisError, OSError) as exc:
            logger.warning("queue depth: the broker did not answer (%s)", exc)
            up.add_metric([], 0)
        else:
            up.add_metric([], 1)
            for name, length in zip(queues, lengths, strict=True):
                depth.add_metric([name], int(length))
        finally:
            client.close()
        yield depth
        yield up


def multiprocess_dir() -> str:
    """The directory of multiprocess mode, or "" in single-process mode."""
    return settings.PROMETHEUS_MULTIPROC_DIR or ""


def process_dead(pid: int | None = None) -> None:
    """A process of this deployment ends: its per-process gauges leave the scrape (multiprocess mode)."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        from prometheus_client import multiprocess  # only in multiprocess mode (it reads that folder)

        multiprocess.mark_process_dead(pid or os.getpid(), path)
