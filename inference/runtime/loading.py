"""Loading models in a worker: lazily, once per process, in a bounded LRU cache.

Keyed by model id and revision; the least recently used model is evicted when
the loaded models together pass ``MODEL_CACHE_BUDGET_MB``. Never called at
import or in the web process; CUDA is touched only here, after the worker forked.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from pathlib import Path

import torch
from django.conf import settings

from .. import metrics
from ..backends.base import Backend, BackendError, LoadTarget
from ..catalog import ModelSpec
from ..registry import backend_class
from ..uploads.paths import model_cache_dir

logger = logging.getLogger(__name__)


def device_and_dtype():
    """CUDA with fp16 when a GPU is present, CPU with fp32 otherwise (``INFERENCE_DEVICE`` overrides)."""
    wanted = settings.INFERENCE_DEVICE
    if wanted == "auto":
        wanted = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(wanted)
    return device, (torch.float16 if device.type == "cuda" else torch.float32)


# transformers' from_pretrained is not thread-safe: while it builds a model it patches torch for the
# whole process (weights made empty, on the "meta" device), so a second thread loading at the same
# moment got meta tensors ("Cannot copy out of meta tensor"). One model loads at a time per process.
_load_lock = threading.Lock()


def backend_load(family: str, target: LoadTarget) -> Backend:
    """Load a model of ``family`` (a worker's cache, or an upload's build), one load at a time per process."""
    with _load_lock:
        return backend_class(family).load(target)


class ModelCache:
    """Loaded backends by (model key, revision), evicting the least recently used.

    The key (``ModelSpec.key``) is unique across owners and versions, so two users' models of one
    name, or two versions of one model, never share an entry.
    """

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self._entries: OrderedDict[tuple[str, str], Backend] = OrderedDict()
        self._sizes: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self._loading: dict[tuple[str, str], threading.Lock] = {}

    def get(self, spec: ModelSpec) -> Backend:
        key = (spec.key, spec.revision)
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
            load_lock = self._loading.setdefault(key, threading.Lock())
        with load_lock:  # one thread loads; the others wait for it
            with self._lock:
                if key in self._entries:
                    return self._entries[key]
            backend = self._load(spec)
            with self._lock:
                self._entries[key] = backend
                self._sizes[key] = backend.memory_bytes()
                self._evict(keep=key)
                metrics.models_cached(sizes=self._sizes)
            return backend

    def _load(self, spec: ModelSpec) -> Backend:
        device, dtype = device_and_dtype()
        path = spec.path
        if path is None:
            raise BackendError(f"Model '{spec.id}' is not installed on this worker. {spec.install_hint}")
        target = LoadTarget(model_id=spec.id, path=Path(path), device=device, dtype=dtype,
                            options=dict(spec.options), cache_dir=model_cache_dir(path))
        started = time.perf_counter()
        backend = backend_load(spec.family, target)
        metrics.model_loaded(model_key=spec.key, seconds=time.perf_counter() - started)
        logger.info("loaded model %s (%s) on %s in %.1f s", spec.id, spec.family, device, time.perf_counter() - started)
        return backend

    def _evict(self, keep: tuple[str, str]) -> None:
        while sum(self._sizes.values()) > self.budget_bytes and len(self._entries) > 1:
            oldest = next(iter(self._entries))
            if oldest == keep:
                self._entries.move_to_end(oldest)
                continue
            self._entries.pop(oldest)
            self._sizes.pop(oldest)
            logger.info("evicted model %s from the cache", oldest[0])

    def loaded(self) -> list[str]:
        with self._lock:
            return [model_id for model_id, _ in self._entries]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._sizes.clear()
            metrics.models_cached(sizes=self._sizes)


_cache: ModelCache | None = None
_cache_lock = threading.Lock()


def model_cache() -> ModelCache:
    global _cache
    with _cache_lock:
        if _cache is None:
            _cache = ModelCache(budget_bytes=settings.MODEL_CACHE_BUDGET_MB * 1024 * 1024)
        return _cache


def backend_get(spec: ModelSpec) -> Backend:
    """The loaded backend of ``spec``, loading it on first use in this process."""
    return model_cache().get(spec)
