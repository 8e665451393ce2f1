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

import functools
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
        # The jobs of one message for this key, together, as (job id, future, cost): cost in the kind's
        # cost_bound unit (generation: new tokens), 0 without one. Put as one item, so a batch never starts
        # with part of a message that arrived whole.
        self.pending: queue.SimpleQueue[list[tuple[str, Future, int]]] = queue.SimpleQueue()
        self.held: list[tuple[str, Future, int]] = []  # did not fit the last batch: the next batch's first
        self.thread = threading.Thread(target=self._loop, name=f"batcher-{key[0]}-{key[1]}", daemon=True)

    def _take(self) -> list[tuple[str, Future]] | None:
        """The next batch: the first waiting jobs plus what arrives within the window; None when idle.

        A batch holds at most ``BATCH_MAX_SIZE`` jobs whose costs add up to at
        most ``GENERATION_BATCH_TOKEN_BUDGET`` (0: no budget); the first job is
        taken whatever its cost, and the jobs that would pass the size or the
        budget start the next batch.
        """
        if not self.held:
            try:
                self.held = self.pending.get(timeout=IDLE_EXIT_S)
            except queue.Empty:
                return None
        batch: list[tuple[str, Future, int]] = []
        spent = 0
        budget = settings.GENERATION_BATCH_TOKEN_BUDGET
        max_size = max(1, settings.BATCH_MAX_SIZE)
        deadline = time.monotonic() + (settings.BATCH_WAIT_MS / 1000 if _gather else 0)
        while len(batch) < max_size:
            if not self.held:
                try:
                    self.held = self.pending.get_nowait()  # already waiting: no need to sleep
                except queue.Empty:
                    # Wait only while other jobs are in flight in this worker and may
                    # join: a job on its own does not pay the window.
                    left = deadline - time.monotonic()
                    if left <= 0 or _in_flight() <= len(batch):
                        break
                    try:
                        self.held = self.pending.get(timeout=min(left, 0.002))
                    except queue.Empty:
                        continue
            item = self.held[0]
            if batch and budget > 0 and item[2] and spent + item[2] > budget:
                break
            batch.append(self.held.pop(0))
            spent += item[2]
        return [(job_id, future) for job_id, future, _ in batch]

    def _loop(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                with _registry_lock:  # end only if nothing slipped in meanwhile
                    if self.pending.empty() and not self.held:
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
    """Jobs this worker process has received and not yet finished (0 outside a worker): its messages, and
    the other jobs of the messages that carry several."""
    return len(state.reserved_requests) + _more_jobs


_more_jobs = 0  # the jobs past the first of the messages in progress (``jobs_run_batched``)
_more_jobs_lock = threading.Lock()


def _count_more_jobs(delta: int) -> None:
    global _more_jobs
    with _more_jobs_lock:
        _more_jobs += delta


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


def jobs_submit_to_batch(*, items: list[tuple[str, int]], key: BatchKey, run_batch: JobsCall,
                         resend: JobsCall) -> list[Future]:
    """Queue jobs ``(job id, cost)`` for the batcher of ``key``, together; each future resolves once its
    job's outcome is recorded.

    ``cost``: the job's ``kind.request_cost(cleaned)``, summed against the batch's token budget.
    ``run_batch`` and ``resend``: see ``Batcher``; a running batcher keeps the ones it started with.
    """
    entries: list[tuple[str, Future, int]] = [(str(job_id), Future(), int(cost)) for job_id, cost in items]
    with _registry_lock:
        batcher = _registry.get(key)
        started = batcher is None
        if batcher is None:
            batcher = _registry[key] = Batcher(key, run_batch=run_batch, resend=resend)
        batcher.pending.put(entries)
    if started:
        batcher.thread.start()
    return [future for _, future, _ in entries]


def jobs_run_batched(*, items: list[tuple[str, list]], run_one: JobsCall, run_batch: JobsCall,
                     resend: JobsCall) -> None:
    """Run the jobs of one message ``(job id, route)``, each batched with concurrent jobs of its key; returns
    once every outcome is recorded (and raises the first error, if any, after that).

    ``route``: ``[model key, task kind, batch key, streaming, cost]`` (see
    ``inference.jobs.routing.job_route``). A job that is not queued (a duplicate
    delivery, a cancelled job) is skipped by the batch's claim. The jobs of one
    key go to its batcher together, so a message's jobs share a batch where they
    fit; batches run through ``run_batch`` (``jobs.jobs_run``), and ``resend``
    gives a batch back when the worker stops (``jobs.jobs_resend``). Streaming
    jobs run alone, one after another, on the calling thread, through
    ``run_one`` (``jobs.job_run``).
    """
    extra = len(items) - 1
    _count_more_jobs(extra)
    try:
        by_key: dict[BatchKey, list[tuple[str, int]]] = {}
        alone: list[tuple[str, str]] = []
        for job_id, route in items:
            model_key, task_kind, batch_key, stream, cost = route
            if stream or settings.BATCH_MAX_SIZE <= 1:
                alone.append((job_id, model_key))
            else:
                by_key.setdefault((model_key, task_kind, batch_key), []).append((job_id, cost))
        futures = [future for key, group in by_key.items()
                   for future in jobs_submit_to_batch(items=group, key=key, run_batch=run_batch, resend=resend)]
        errors: list[BaseException] = []
        for job_id, model_key in alone:
            _settle(functools.partial(_run_alone, run_one, job_id, model_key), errors)
        for handed in [_settle(future.result, errors) for future in futures]:
            if isinstance(handed, Future):  # the batch handed the job on (to a process of its own)
                _settle(handed.result, errors)
        if errors:
            raise errors[0]
    finally:
        _count_more_jobs(-extra)


def _run_alone(run_one: JobsCall, job_id: str, model_key: str) -> None:
    with model_lock(model_key):
        run_one(job_id=job_id)


def _settle(call: Callable[[], object], errors: list[BaseException]) -> object:
    """``call()``, or None with its error kept in ``errors``: a job that fails does not stop the other jobs
    of its message, which still run to their end."""
    try:
        return call()
    except Exception as exc:  # noqa: BLE001 - raised by the caller once every job has ended
        errors.append(exc)
        return None
