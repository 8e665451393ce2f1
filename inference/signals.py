"""Worker start-up: preload chosen models in each worker process, after the fork."""

from __future__ import annotations

import logging

from celery.signals import worker_process_init, worker_ready
from django.conf import settings

logger = logging.getLogger(__name__)


def _preload() -> None:
    if settings.TORCH_THREADS:
        import torch

        torch.set_num_threads(settings.TORCH_THREADS)
    from .catalog import catalog_get
    from .loading import backend_get

    for model_id in settings.WORKER_PRELOAD_MODELS:
        spec = catalog_get(model_id)
        if spec is None or not spec.installed:
            logger.warning("cannot preload %s: unknown or not installed", model_id)
            continue
        backend_get(spec)


@worker_process_init.connect
def preload_in_child(**_: object) -> None:
    from .batching import gather_window_set

    gather_window_set(False)  # a prefork child runs one job at a time: nothing to gather
    _preload()


@worker_ready.connect
def preload_in_solo_or_threads(sender=None, **_: object) -> None:
    # prefork children preload in worker_process_init; the solo and threads
    # pools run jobs in this process. ``sender`` is the worker's consumer.
    pool = type(getattr(sender, "pool", None)).__module__
    if "prefork" in pool:
        return
    from .batching import gather_window_set

    gather_window_set("thread" in pool)  # solo runs one job at a time: nothing to gather
    _preload()
