"""Warm start: a worker loads the models it serves before it takes a job, and says which it has warm.

- Warming up (``models_to_warm``, ``model_warm_up``): ``WORKER_PRELOAD_MODELS`` names what a worker
  process loads at start, ``served`` by default: every installed catalog model whose queue it consumes
  (``runworker --models`` narrows the queues, so the models). Each is loaded into the process's model
  cache and runs one tiny input (its first task kind's example, generating at most two tokens), so the
  first real job pays neither the load nor torch's first-call costs (allocations, kernel choice). Users'
  uploaded models are still loaded on demand. ``inference/signals.py`` runs this before the worker's
  consumer takes a message.
- Publishing (``warm_publish_start``, ``warm_publish``, ``warm_publish_stop``): each process that runs
  jobs then writes one Redis key, ``fp:warm:<hostname>:<pid>``, holding the worker's hostname and the
  models its cache holds, with a TTL of three heartbeats. The heartbeat thread rewrites it every
  ``JOB_HEARTBEAT_INTERVAL_S``, so a model loaded on demand or evicted shows within one heartbeat; a
  stopping worker deletes it. A key that expires is Redis's own liveness: a killed worker (SIGKILL,
  out of memory, its host gone) stops renewing it and its models turn cold within the TTL, with no
  clean-up and no clocks compared. The set ``fp:warm`` lists the keys, so a reader never scans the
  keyspace.
- Reading (``models_warmth``): ``GET /api/health`` says, for each installed catalog model, whether a
  live worker has it loaded.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Collection
from typing import Any

import redis
from django.conf import settings

from ..catalog import ModelSpec, catalog_get, catalog_models
from ..kinds.base import TaskKind
from ..registry import kind_get
from ..runtime.running import stopping
from ..uploads.build import example_input
from .events import redis_client

logger = logging.getLogger(__name__)

WARM_SET = "fp:warm"  # the keys of the processes that publish
WARM_KEY_PREFIX = "fp:warm:"
WARM_NEW_TOKENS = 2  # a generative model's warm-up writes this many tokens at most
REDIS_ERRORS = (redis.RedisError, OSError)


# -- warming up ------------------------------------------------------------------------------------------

def models_to_warm(*, wanted: Collection[str], queues: Collection[str]) -> list[ModelSpec]:
    """The catalog models a worker consuming ``queues`` loads at start, from ``WORKER_PRELOAD_MODELS``.

    ``served`` (the default; an empty value too): every installed catalog model whose queue is one of
    ``queues``. ``none``: nothing. Otherwise the listed model ids (``served`` among them adds the served
    ones); an unknown or uninstalled id is logged and skipped.
    """
    tokens = [token.strip() for token in wanted if token.strip()] or ["served"]
    if "none" in tokens:
        return []
    chosen: dict[str, ModelSpec] = {}
    for token in tokens:
        if token == "served":
            for spec in catalog_models():
                if spec.queue in queues and spec.installed:
                    chosen.setdefault(spec.id, spec)
            continue
        named = catalog_get(token)
        if named is None or not named.installed:
            logger.warning("cannot preload %s: unknown or not installed", token)
            continue
        chosen.setdefault(named.id, named)
    return list(chosen.values())


def warm_input(kind: TaskKind) -> dict[str, Any]:
    """The kind's example input, cleaned, generating at most ``WARM_NEW_TOKENS`` tokens."""
    data = example_input(kind.name)
    if kind.cost_bound is not None:
        data[kind.cost_bound.field] = WARM_NEW_TOKENS
    return kind.clean(data)


def model_warm_up(spec: ModelSpec) -> bool:
    """Load ``spec`` into this process's model cache and run one tiny input through it; False when the
    load failed (logged: the worker still starts, and a job for the model fails with the reason)."""
    # Lazily: the model cache imports torch, and the web process imports this package.
    from ..runtime.loading import backend_get

    started = time.perf_counter()
    try:
        backend = backend_get(spec)
    except Exception:  # a broken or missing model must not stop the worker serving the others
        logger.exception("cannot preload %s", spec.id)
        return False
    loaded = time.perf_counter()
    kinds = [kind for name in spec.kinds if (kind := kind_get(name)) is not None]
    kind = next((kind for kind in kinds if kind.operation in backend.operations), None)
    if kind is not None:
        try:
            result = kind.run(backend, [warm_input(kind)])[0]
            if result.error:
                logger.warning("model %s: its warm-up input (%s) failed: %s", spec.id, kind.name, result.error)
        except Exception:  # the model is loaded; a real job will show its own error
            logger.warning("model %s: its warm-up input (%s) failed", spec.id, kind.name, exc_info=True)
    logger.info("warmed model %s: loaded in %.1f s, first %s pass in %.2f s", spec.id, loaded - started,
                kind.name if kind else "(no kind)", time.perf_counter() - loaded)
    return True


# -- publishing ------------------------------------------------------------------------------------------

_lock = threading.Lock()
_published: dict[str, Any] = {}  # "key", "worker", "ready_at" while this process publishes


def warm_ttl_s() -> float:
    """How long a published key lives without a heartbeat renewing it."""
    return max(1.0, 3 * settings.JOB_HEARTBEAT_INTERVAL_S)


def _loaded_models() -> list[str]:
    # Lazily: the model cache imports torch; only a worker process that runs jobs publishes.
    from ..runtime.loading import model_cache

    return model_cache().loaded()


def warm_publish_start(*, hostname: str) -> None:
    """From now on this process publishes the models it has loaded (its warm-up is over); not when it
    was told to stop meanwhile."""
    with _lock:
        if _published.get("withdrawn"):
            return
        _published.update(key=f"{WARM_KEY_PREFIX}{hostname}:{os.getpid()}", worker=hostname, ready_at=time.time())
    warm_publish()


def warm_publish() -> None:
    """Write this process's key (the models loaded now), renewing its TTL; the heartbeat calls it."""
    with _lock:  # a stop deletes the key after any write under way, never before it
        key = _published.get("key")
        if key is None:
            return
        value = json.dumps({"worker": _published["worker"], "pid": os.getpid(), "ready_at": _published["ready_at"],
                            "models": _loaded_models()})
        try:
            pipe = redis_client().pipeline(transaction=False)
            pipe.set(key, value, px=int(warm_ttl_s() * 1000))
            pipe.sadd(WARM_SET, key)
            pipe.execute()
        except REDIS_ERRORS as exc:  # the next heartbeat writes it again
            logger.warning("cannot publish the warm models: %s", exc)


def warm_publish_stop() -> None:
    """This process stops taking jobs: its models are no longer warm anywhere, and it publishes nothing more.
    Not from a signal handler: it waits for a write under way (``inference/signals.py`` calls it in a thread)."""
    with _lock:
        _published["withdrawn"] = True
        key = _published.pop("key", None)
        if key is None:
            return
        try:
            pipe = redis_client().pipeline(transaction=False)
            pipe.delete(key)
            pipe.srem(WARM_SET, key)
            pipe.execute()
        except REDIS_ERRORS as exc:  # the key expires on its own
            logger.warning("cannot withdraw the warm models: %s", exc)


# -- reading ---------------------------------------------------------------------------------------------

def warm_processes(client: redis.Redis) -> list[dict[str, Any]]:
    """What each live publishing process said: ``{"worker", "pid", "ready_at", "models"}``.

    Keys that expired (their worker died) are dropped from ``fp:warm`` on the way.
    """
    keys = sorted(client.smembers(WARM_SET))
    if not keys:
        return []
    values = client.mget(keys)
    gone = [key for key, value in zip(keys, values, strict=True) if value is None]
    if gone:
        client.srem(WARM_SET, *gone)
    found = []
    for value in values:
        try:
            entry = json.loads(value) if value is not None else None
        except ValueError:
            entry = None
        if isinstance(entry, dict) and isinstance(entry.get("worker"), str):
            found.append(entry)
    return found


def models_warmth(client: redis.Redis) -> tuple[dict[str, str], int]:
    """({model id: "warm" or "cold"} for the catalog's installed models, how many workers are live).

    A model is warm when some live worker has it loaded; internal models (echo) are not listed.
    """
    processes = warm_processes(client)
    loaded = {model for entry in processes for model in entry.get("models") or ()}
    models = {spec.id: "warm" if spec.key in loaded else "cold"
              for spec in catalog_models() if spec.installed and not spec.internal}
    return models, len({entry["worker"] for entry in processes})


def warm_pool_wait(*, hostname: str, processes: int, since: float, timeout: float) -> bool:
    """Wait until ``processes`` processes of worker ``hostname`` publish that their warm-up ended after
    ``since`` (a ``time.time()``; not a process of an earlier run under that hostname), at most
    ``timeout`` seconds; False when they did not, Redis did not answer or the worker is stopping."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            ready = sum(1 for entry in warm_processes(redis_client())
                        if entry["worker"] == hostname and float(entry.get("ready_at") or 0) >= since)
        except REDIS_ERRORS as exc:
            logger.warning("cannot tell whether the pool processes are warm: %s", exc)
            return False
        if ready >= processes:
            return True
        if time.monotonic() > deadline or stopping.is_set():
            return False
        time.sleep(0.2)
