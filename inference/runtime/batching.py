"""Batching in a worker: concurrent jobs for one model and task kind run as one forward pass.

With the threads pool (``runworker``'s default) up to ``WORKER_CONCURRENCY``
``run_job`` messages are in flight in one worker process. Each ``run_job``
hands its job id to the batcher of its (model, task kind, ``kind.batch_key``)
and blocks until the batch that contains the job has been recorded; only then
does the Celery task return and its message get acknowledged (``acks_late``).

A batcher is one thread per key. It takes the first waiting job, gathers more
for at most ``BATCH_WAIT_MS`` (only while other messages are in flight in this
worker, so a lone job does not wait) or until ``BATCH_MAX_SIZE`` jobs, and calls
``run_batch`` once (``inference.jobs.jobs_run``, handed in by the Celery task: the
batcher knows no job services): one claim UPDATE, one ``kind.run``, one
transaction for the outcomes. Jobs that arrive while a batch runs wait for
the next one, so under load the batches fill themselves without waiting.
``run_batch`` may hand some jobs on instead of running them (a job retried
after its worker died runs in a process of its own): it returns their futures
by job id, and their ``run_job`` waits for those too.

With the prefork or solo pools a process runs one job at a time: there is
nothing to gather, so ``gather_window_set(0)`` (see ``inference/signals.py``)
makes the batcher run each job at once.

The route of a job (model key, kind, batch key, streaming, cost) comes with its
message; ``inference.jobs.routing`` computes it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Hashable, Mapping
from concurrent.futures import Future

from celery.worker import state
from django.conf import settings
from django.db import close_old_connections

from . import running

logger = logging.getLogger(__name__)

# What the batcher runs, handed in by the Celery task: the job services, called with ``job_id=`` or ``job_ids=``.
JobsCall = Callable[..., object]
# A batcher's key: (model key, task kind, the kind's batch_key of the job's input).
BatchKey = tuple[str, str, Hashable]

# How long an idle batcher thread lives before it ends (a new job starts it again).
IDLE_EXIT_S = 60.0

_gather = True  # False in pools that run one job per process at a time


def gather_window_set(enabled: bool) -> None:
    """Turn the gathering wait on (threads pool) or off (prefork, solo)."""
    global _gather
    _gather = enabled


class Batcher:
    """Gathers job ids for one batch key and runs them in batches, on its own thread."""

    def __init__(self, key: BatchKey, *, run_batch: JobsCall, resend: JobsCall) -> None:
        self.key = key
        self.run_batch = run_batch  # claims, runs and records a batch (``jobs_run``)
        self.resend = resend  # gives jobs back to their queue when the worker stops (``jobs_resend``)
        # (job id, future, cost): cost in the kind's cost_bound unit (generation: new tokens), 0 without one
        self.pending: queue.SimpleQueue[tuple[str, Future, int]] = queue.SimpleQueue()
        self.held: tuple[str, Future, int] | None = None  # did not fit the last batch's budget: next batch's first
        self.thread = threading.Thread(target=self._loop, name=f"batcher-{key[0]}-{key[1]}", daemon=True)

    def _take(self) -> list[tuple[str, Future]] | None:
        """The next batch: the first waiting job plus what arrives within the window; None when idle.

        A batch holds at most ``BATCH_MAX_SIZE`` jobs whose costs add up to at
        most ``GENERATION_BATCH_TOKEN_BUDGET`` (0: no budget); the first job is
        taken whatever its cost, and a job that would pass the budget starts
        the next batch.
        """
        if self.held is not None:
            first, self.held = self.held, None
        else:
            try:
                first = self.pending.get(timeout=IDLE_EXIT_S)
            except queue.Empty:
                return None
        batch = [first]
        spent = first[2]
        budget = settings.GENERATION_BATCH_TOKEN_BUDGET
        max_size = max(1, settings.BATCH_MAX_SIZE)
        deadline = time.monotonic() + (settings.BATCH_WAIT_MS / 1000 if _gather else 0)
        while len(batch) < max_size:
            try:
                item = self.pending.get_nowait()  # already waiting: no need to sleep
            except queue.Empty:
                # Wait only while other messages are in flight in this worker and may
                # join: a job on its own does not pay the window.
                left = deadline - time.monotonic()
                if left <= 0 or _in_flight() <= len(batch):
                    break
                try:
                    item = self.pending.get(timeout=min(left, 0.002))
                except queue.Empty:
                    continue
            if budget > 0 and item[2] and spent + item[2] > budget:
                self.held = item
                break
            batch.append(item)
            spent += item[2]
        return [(job_id, future) for job_id, future, _ in batch]

    def _loop(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                with _registry_lock:  # end only if nothing slipped in meanwhile
                    if self.pending.empty():
                        _registry.pop(self.key, None)
                        return
                continue
            close_old_connections()
            handed: object = None
            try:
                if running.stopping.is_set():  # the worker is stopping: claim nothing, give the jobs back
                    self.resend(job_ids=[job_id for job_id, _ in batch])
                else:
                    with model_lock(self.key[0]):
                        handed = self.run_batch(job_ids=[job_id for job_id, _ in batch])
            except BaseException as exc:  # the futures must resolve whatever happens
                logger.exception("batch %s of %d jobs failed", self.key[:2], len(batch))
                for _, future in batch:
                    future.set_exception(exc)
            else:
                running_on = handed if isinstance(handed, Mapping) else {}  # job id -> Future, run elsewhere
                for job_id, future in batch:
                    future.set_result(running_on.get(job_id))


def _in_flight() -> int:
    """Messages this worker process has received and not yet finished (0 outside a worker)."""
    return len(state.reserved_requests)


_registry: dict[BatchKey, Batcher] = {}
_registry_lock = threading.Lock()
_model_locks: dict[str, threading.Lock] = {}


def model_lock(model_key: str) -> threading.Lock:
    """One run at a time per model in this process.

    Batchers of different keys (text generation with other parameters) and
    streaming jobs share a loaded model, and its tokenizer is not thread-safe
    (the fast tokenizers raise "Already borrowed"). Torch already uses every
    core for one forward pass, so running them one after another costs nothing.
    """
    with _registry_lock:
        return _model_locks.setdefault(model_key, threading.Lock())


def job_submit_to_batch(*, job_id: str, key: BatchKey, run_batch: JobsCall, resend: JobsCall,
                        cost: int = 0) -> Future:
    """Queue a job for the batcher of ``key``; the future resolves once its outcome is recorded.

    ``cost``: the job's ``kind.request_cost(cleaned)``, summed against the batch's token budget.
    ``run_batch`` and ``resend``: see ``Batcher``; a running batcher keeps the ones it started with.
    """
    future: Future = Future()
    with _registry_lock:
        batcher = _registry.get(key)
        started = batcher is None
        if batcher is None:
            batcher = _registry[key] = Batcher(key, run_batch=run_batch, resend=resend)
        batcher.pending.put((job_id, future, int(cost)))
    if started:
        batcher.thread.start()
    return future


def job_run_batched(*, job_id: str, route: list, run_one: JobsCall, run_batch: JobsCall, resend: JobsCall) -> None:
    """Run one job, batched with concurrent jobs of the same key; returns once its outcome is recorded.

    ``route``: ``[model key, task kind, batch key, streaming, cost]`` (see
    ``inference.jobs.routing.job_route``). A job that is not queued (a duplicate
    delivery, a cancelled job) is skipped by the batch's claim. Streaming jobs
    run alone, on the calling thread, through ``run_one`` (``jobs.job_run``);
    batches through ``run_batch`` (``jobs.jobs_run``); ``resend`` gives a batch
    back when the worker stops (``jobs.jobs_resend``).
    """
    model_key, task_kind, extra, stream, cost = route
    if stream or settings.BATCH_MAX_SIZE <= 1:
        with model_lock(model_key):
            run_one(job_id=job_id)
        return
    handed = job_submit_to_batch(job_id=str(job_id), key=(model_key, task_kind, extra), run_batch=run_batch,
                                 resend=resend, cost=cost).result()
    if isinstance(handed, Future):  # the batch handed the job on (to a process of its own): wait for it too
        handed.result()
