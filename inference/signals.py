"""Worker start-up: preload chosen models in each worker process, after the fork."""

from __future__ import annotations

import logging

from celery.signals import (
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
    worker_shutting_down,
)
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


# --- running jobs: heartbeats, and the hand-back when the worker stops ------------------------------


@worker_process_init.connect
def heartbeat_in_child(**_: object) -> None:
    from .running import heartbeat_start

    heartbeat_start()


@worker_ready.connect
def heartbeat_in_main(sender=None, **_: object) -> None:
    if "prefork" in type(getattr(sender, "pool", None)).__module__:
        return  # the children beat for the jobs they run
    from .running import heartbeat_start

    heartbeat_start()


@worker_shutting_down.connect
def hand_back_running_jobs(**_: object) -> None:
    """SIGTERM or Ctrl-C: running generations stop between two tokens, and every job this process runs
    goes back to its queue (the attempt not counted), so a warm shutdown ends in seconds and loses
    nothing. Jobs of pool children (prefork) are not seen here; they finish or the sweeper finds them."""
    import threading

    from django.db import close_old_connections

    from . import running
    from .services import jobs_hand_back

    running.stopping.set()

    def hand_back() -> None:
        try:
            handed = jobs_hand_back(jobs=running.tracked_jobs())
            if handed:
                logger.warning("worker stopping: %d running jobs handed back to their queues", handed)
        except Exception:
            logger.exception("worker stopping: could not hand back running jobs (the sweeper will)")
        finally:
            close_old_connections()

    thread = threading.Thread(target=hand_back, name="hand-back")  # not on the interrupted main thread
    thread.start()
    thread.join(timeout=10)


# --- metrics: a stopping process's per-process gauges leave the scrape (multiprocess mode) -----------


@worker_process_shutdown.connect
def metrics_child_dead(pid=None, **_: object) -> None:
    from .metrics import process_dead

    process_dead(pid)


@worker_shutdown.connect
def metrics_main_dead(**_: object) -> None:
    from .metrics import process_dead

    process_dead()
