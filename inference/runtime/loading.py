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


def device_and_dtype(family: str | None = None) -> tuple[torch.device, torch.dtype]:
    """Where and in what precision a model of ``family`` runs.

    CUDA with float16 when a GPU is present (``INFERENCE_DEVICE`` overrides). On the CPU,
    ``INFERENCE_CPU_DTYPE``: ``float32``, ``bfloat16``, or ``auto`` (the default): bfloat16 for the
    families that allow it (``Backend.cpu_bfloat16``) when the CPU computes in bfloat16 natively
    (AVX512-BF16 or AMX), float32 otherwise. On such a CPU all-MiniLM-L6-v2 costs about 40 % less a
    text in bfloat16 and its vectors keep a cosine of at least 0.9997 to float32's (docs/perf).
    """
    wanted = settings.INFERENCE_DEVICE
    if wanted == "auto":
        wanted = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(wanted)
    if device.type == "cuda":
        return device, torch.float16
    chosen = settings.INFERENCE_CPU_DTYPE
    if chosen == "auto":
        allowed = family is not None and backend_class(family).cpu_bfloat16
        chosen = "bfloat16" if allowed and cpu_has_bfloat16() else "float32"
    return device, (torch.bfloat16 if chosen == "bfloat16" else torch.float32)


def cpu_has_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX tiles)."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # a torch without these probes: assume not
        return False


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
        device, dtype = device_and_dtype(spec.family)
        path = spec.path
        if path is None:
            raise BackendError(f"Model '{spec.id}' is not installed on this worker. {spec.install_hint}")
        target = LoadTarget(model_id=spec.id, path=Path(path), device=device, dtype=dtype,
                            options=dict(spec.options), cache_dir=model_cache_dir(path))
        started = time.perf_counter()
        backend = backend_load(spec.family, target)
        metrics.model_loaded(model_key=spec.key, seconds=time.perf_counter() - started)
        logger.info("loaded model %s (%s) on %s in %s in %.1f s", spec.id, spec.family, device, dtype,
                    time.perf_counter() - started)
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
