"""Worker start-up, after the fork and before any pool thread runs a job or a build.

Each worker process imports what its threads need once (``runtime_import``),
reports a broker that keeps nothing on disk, then warms up: loads the models it
serves and runs one tiny input through each, before it takes a job, and
publishes them as warm (``inference.jobs.warm``).
"""

from __future__ import annotations

import importlib
import logging
import socket
import threading
import time
from typing import Any

from celery.signals import (
    worker_init,
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
    worker_shutting_down,
)
from django.conf import settings
from django.db import close_old_connections

from .jobs import jobs_hand_back
from .jobs.events import broker_persistence
from .jobs.quarantine import quarantine_enable, quarantine_stop
from .jobs.warm import (
    model_warm_up,
    models_to_warm,
    warm_pool_wait,
    warm_publish,
    warm_publish_start,
    warm_publish_stop,
)
from .metrics import process_dead
from .registry import FAMILIES, backend_class
from .runtime import running
from .runtime.batching import gather_window_set

logger = logging.getLogger(__name__)

# Imported lazily by the backends when a model loads (the web process never needs them).
_LOAD_TIME_MODULES = ("efficientnet_lite_pytorch", "gguf", "tokenizers.pre_tokenizers", "PIL.Image")


def runtime_import() -> None:
    """Import torch, transformers, every model family and the build path, once, in this process.

    The web process never imports them, so they are imported lazily. Two pool
    threads importing transformers' lazy names at the same moment could see a
    half-imported module ("cannot import name 'AutoConfig' from
    'transformers'"): a worker imports them here, before any thread runs.
    """
    started = time.perf_counter()
    import torch  # lazily, as every torch import: this module is imported by every process, the web's too

    if settings.TORCH_THREADS:
        torch.set_num_threads(settings.TORCH_THREADS)
    import transformers  # lazily, as torch above

    for family in FAMILIES:
        backend_class(family)
    for name in _LOAD_TIME_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:  # an optional family's package; its models fail to load with a reason
            logger.warning("cannot import %s", name)
    # The names the build and loading paths take from transformers' lazy top-level module.
    for name in ("AutoConfig", "AutoTokenizer", "AutoModel", "AutoModelForCausalLM",
                 "AutoModelForSequenceClassification", "AutoModelForSeq2SeqLM", "GenerationConfig"):
        getattr(transformers, name)
    logger.info("imported torch, transformers and %d model families in %.1f s", len(FAMILIES),
                time.perf_counter() - started)


def quarantine_import() -> None:
    """A worker's quarantine child (``inference.jobs.quarantine``) starts with torch and this worker's thread
    count. It runs one job at a time on one thread, so the rest is imported when its first job needs it, and a
    retried job does not wait for every model family to import."""
    import torch  # lazily, as every torch import

    if settings.TORCH_THREADS:
        torch.set_num_threads(settings.TORCH_THREADS)


def broker_persistence_warn() -> None:
    """Log a warning when the broker Redis keeps nothing on disk (queued jobs lost on a restart)."""
    mode, message = broker_persistence(settings.CELERY_BROKER_URL)
    if mode == "none":
        logger.warning("%s", message)


# The worker's hostname, queues and pool size, from worker_init (the main process, before the pool's
# processes fork: they inherit it).
_worker: dict[str, Any] = {}
# A prefork worker's main process takes no message until its pool processes are warm, for at most this long.
POOL_WARM_WAIT_S = 600.0


@worker_init.connect
def worker_remember(sender=None, **_: object) -> None:
    _worker.update(hostname=sender.hostname, queues=frozenset(sender.app.amqp.queues.consume_from),
                   processes=sender.concurrency, started_at=time.time())


def warm_up() -> None:
    """Load and try the models this process serves (``inference.jobs.warm``), then publish them as warm."""
    started = time.perf_counter()
    specs = models_to_warm(wanted=settings.WORKER_PRELOAD_MODELS, queues=_worker.get("queues", ()))
    warmed = []
    for spec in specs:
        if running.stopping.is_set():  # told to stop while warming up: stop soon, not after every model
            break
        if model_warm_up(spec):
            warmed.append(spec.id)
    warm_publish_start(hostname=_worker.get("hostname") or socket.gethostname())
    logger.info("warm-up done in %.1f s: %s", time.perf_counter() - started, ", ".join(warmed) or "no models")


@worker_process_init.connect
def warm_up_in_child(**_: object) -> None:
    # A prefork child signals the main process that it is up only after this returns, so it is sent
    # no job before its models are warm.
    gather_window_set(False)  # a prefork child runs one job at a time: nothing to gather
    runtime_import()
    warm_up()


@worker_ready.connect
def warm_up_in_solo_or_threads(sender=None, **_: object) -> None:
    # The solo and threads pools run jobs in this process. ``sender`` is the worker's consumer: its event
    # loop, which alone fetches messages from the broker, starts only after this returns
    # (celery.worker.loops: consume(), on_ready(), then the loop), so no message is taken before the
    # warm-up ends. Prefork: the children warm up (above); this process waits for them before its loop
    # starts, so it reserves no message that a warm worker could have run.
    broker_persistence_warn()
    pool = type(getattr(sender, "pool", None)).__module__
    if "prefork" in pool:
        hostname, processes = _worker.get("hostname") or "", _worker.get("processes") or 1
        if not warm_pool_wait(hostname=hostname, processes=processes, since=_worker.get("started_at") or 0.0,
                              timeout=POOL_WARM_WAIT_S):
            logger.warning("the pool processes did not all report warm; taking jobs anyway")
        return
    threads = "thread" in pool
    gather_window_set(threads)  # solo runs one job at a time: nothing to gather
    # Many jobs at once in this process: a job retried after its worker died runs in a child process of its own
    # (prefork and solo run one job per process, which a job that kills its process takes down alone anyway).
    quarantine_enable(enabled=threads and settings.JOB_ISOLATE_RETRIES,
                      initializer=f"{__name__}.{quarantine_import.__name__}")
    runtime_import()
    warm_up()


# --- running jobs: heartbeats, and the hand-back when the worker stops ------------------------------


@worker_process_init.connect
def heartbeat_in_child(**_: object) -> None:
    running.heartbeat_start(also=warm_publish)


@worker_ready.connect
def heartbeat_in_main(sender=None, **_: object) -> None:
    if "prefork" in type(getattr(sender, "pool", None)).__module__:
        return  # the children beat for the jobs they run
    running.heartbeat_start(also=warm_publish)


@worker_shutting_down.connect
def warm_withdraw(**_: object) -> None:
    """The worker stops taking jobs: its models are no longer warm (before the hand-back below)."""
    thread = threading.Thread(target=warm_publish_stop, name="warm-withdraw")  # not on the interrupted main thread
    thread.start()
    thread.join(timeout=5)


@worker_process_shutdown.connect
def warm_withdraw_child(**_: object) -> None:
    warm_publish_stop()


@worker_shutting_down.connect
def hand_back_running_jobs(**_: object) -> None:
    """SIGTERM or Ctrl-C: running generations stop between two tokens, and every job this process runs
    goes back to its queue (the attempt not counted), so a warm shutdown ends in seconds and loses
    nothing. Jobs of pool children (prefork) are not seen here; they finish or the sweeper finds them."""
    running.stopping.set()
    quarantine_stop()  # a retried job running in its own process stops too

    def hand_back() -> None:
        try:
            tracked = running.tracked_jobs()
            logger.info("worker stopping: %d jobs running here", len(tracked))
            handed = jobs_hand_back(jobs=tracked)
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
    process_dead(pid)


@worker_shutdown.connect
def metrics_main_dead(**_: object) -> None:
    process_dead()
