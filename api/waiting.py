"""Waiting for a job without holding a thread: Redis pub/sub in the event loop.

One pub/sub connection per event loop (per web process) serves every waiting
request: it is subscribed to the process's reply channel, which the jobs its
requests submit name (``InferenceJob.reply_to``); a request opens an ``Inbox``
for its job, and one reader task hands each done message to the inboxes of
its job. A connection per request cost each request a TCP connect and
handshake, and a subscription per request two round trips.

A task endpoint opens the inbox before it submits the job (the reply channel
is subscribed by then), so no event can be missed and the row need not be read first; a job's "done" message carries its
outcome (``inference.jobs.jobs_finish``), so the answer needs no read
either. Rarer endings (cancelled, failed by the sweeper) say only the
status, and the row is read then. If nothing arrives for 5 s the row is read,
so a lost message (a Redis restart) never leaves a request hanging.

A streaming response (text generation, token by token) is read after its view
returned, so it subscribes on a connection of its own, then reads the row
once, then relays the channel's "text" messages (``job_stream_events``).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import redis
import redis.asyncio as aioredis
from asgiref.sync import AsyncToSync, sync_to_async
from django.conf import settings
from django.db import close_old_connections

from inference.jobs import events
from inference.models import InferenceJob

logger = logging.getLogger(__name__)

QUIET_CHECK_S = 5.0


def run_sync(fn):
    """``fn`` (database work) on the event loop's thread pool, not on a thread made for the request.

    Under an ASGI server Django runs sync code (``thread_sensitive=True``) on a
    thread made for each request, so every request opened its own database
    connection. Pool threads keep theirs (``CONN_MAX_AGE``); stale or broken
    ones are dropped first, as Django does at the start of a request. When a
    sync caller waits above this request (Django's test client, a WSGI
    adapter), ``fn`` runs on that caller's thread, as Django would run it, so
    it sees the caller's transaction.
    """

    def pooled_call(*args: Any, **kwargs: Any) -> Any:
        close_old_connections()
        return fn(*args, **kwargs)

    pooled = sync_to_async(pooled_call, thread_sensitive=False)
    inline = sync_to_async(fn, thread_sensitive=True)

    async def run(*args: Any, **kwargs: Any) -> Any:
        if getattr(AsyncToSync.executors, "current", None) is not None:
            return await inline(*args, **kwargs)
        return await pooled(*args, **kwargs)

    return run


def _job_read(job_id) -> InferenceJob:
    return InferenceJob.objects.get(id=job_id)


job_read = run_sync(_job_read)


class Inbox:
    """The messages about one job, for one waiting request."""

    def __init__(self, listener: Listener, job_id: str) -> None:
        self.listener = listener
        self.job_id = job_id
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.closed = False

    @property
    def reply_to(self) -> str:
        """The channel the job's done message is sent to (``InferenceJob.reply_to``)."""
        return self.listener.reply_channel

    async def get(self, timeout: float) -> dict[str, Any] | None:
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.listener.release(self)


class Listener:
    """One pub/sub connection, subscribed to this event loop's reply channel, and one reader task.

    Jobs submitted by the loop's requests name the channel (``reply_to``); a
    worker sends their done messages there, with the job's id, and the reader
    hands each to the inboxes of its job. The channel is subscribed once, by
    the first request (confirmed before it submits); redis-py subscribes again
    when it reconnects. A subscription per request (SUBSCRIBE, UNSUBSCRIBE)
    cost each request two round trips and 0.36 ms of CPU.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        # Bounded connects and reads: a frozen Redis fails the request (503), it does not hang it. The
        # reader's get_message waits with its own timeout, so an idle channel is not an error.
        self.client = aioredis.Redis.from_url(settings.REDIS_URL, max_connections=1024,
                                              **events.client_options(asyncio=True))
        self.pubsub = self.client.pubsub()
        self.reply_channel = f"{events.REPLY_PREFIX}{uuid.uuid4().hex}"
        self.inboxes: dict[str, set[Inbox]] = {}
        self.subscribed: asyncio.Future | None = None  # resolved once Redis confirmed the reply channel
        self.reader: asyncio.Task | None = None
        self.lock = asyncio.Lock()

    async def open(self, job_id) -> Inbox:
        """An inbox for ``job_id``; the reply channel is subscribed (Redis confirmed it) before this returns."""
        if self.subscribed is None or not self.subscribed.done() or self.subscribed.exception() is not None:
            await self._subscribe_once()
        inbox = Inbox(self, str(job_id))
        self.inboxes.setdefault(inbox.job_id, set()).add(inbox)
        return inbox

    async def _subscribe_once(self) -> None:
        async with self.lock:
            if self.subscribed is not None and self.subscribed.done() and self.subscribed.exception() is None:
                return
            confirmed = self.subscribed = asyncio.get_running_loop().create_future()
            try:
                await self._subscribe(self.reply_channel)
            except Exception as exc:  # Redis down or frozen: the request answers 503 (api/middleware.py)
                confirmed.set_exception(exc)
                confirmed.exception()  # retrieved: the next request tries again
                raise
            self._start_reader()
            try:
                # On a frozen Redis the SUBSCRIBE is written to the open connection but never confirmed: that
                # is Redis not answering (503 within REDIS_SOCKET_TIMEOUT_S, as any other call).
                await asyncio.wait_for(asyncio.shield(confirmed), settings.REDIS_SOCKET_TIMEOUT_S)
            except TimeoutError:
                logger.warning("no confirmation of the subscription to %s", self.reply_channel)
                error = redis.TimeoutError(f"Redis did not confirm a subscription within "
                                           f"{settings.REDIS_SOCKET_TIMEOUT_S} s")
                if not confirmed.done():
                    confirmed.set_exception(error)
                    confirmed.exception()
                raise error from None

    async def _subscribe(self, channel: str) -> None:
        """SUBSCRIBE on the shared connection, reconnecting once if it was dropped under us.

        A connection Redis closed (``CLIENT KILL``, a restart) can fail redis-py's next write with an
        ``AttributeError`` on its closed transport, or its reconnect with a ``RuntimeError`` (two readers on
        one socket, the listener's reader being the other), rather than a ``ConnectionError``. One reconnect (which
        subscribes again to every open channel) gets past it; a second failure is Redis not answering,
        raised as a ``ConnectionError`` so the request answers 503.
        """
        try:
            await self.pubsub.subscribe(channel)
        except (redis.RedisError, OSError, AttributeError, RuntimeError) as first:
            logger.warning("subscribing to %s failed (%r); reconnecting once", channel, first)
            if self.pubsub.connection is not None:
                await self.pubsub.connection.disconnect()
            try:
                await self.pubsub.subscribe(channel)
            except (redis.RedisError, OSError, AttributeError, RuntimeError) as exc:
                raise redis.ConnectionError(f"cannot subscribe to job events: {exc!r}") from first

    def release(self, inbox: Inbox) -> None:
        waiting = self.inboxes.get(inbox.job_id)
        if waiting is None:
            return
        waiting.discard(inbox)
        if not waiting:
            del self.inboxes[inbox.job_id]

    def _start_reader(self) -> None:
        if self.reader is None or self.reader.done():
            self.reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        while True:
            try:
                message = await self.pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis went away: retry; waiters fall back to reading rows
                logger.warning("job event listener lost its Redis connection; reconnecting", exc_info=True)
                await asyncio.sleep(0.5)
                continue
            if message is None:
                _cancel_kept()
                continue
            if message["type"] == "subscribe":
                if self.subscribed is not None and not self.subscribed.done():
                    self.subscribed.set_result(None)
                continue
            if message["type"] != "message":
                continue
            try:
                payload = events.message_decode(message["data"])
            except ValueError:
                continue
            for inbox in list(self.inboxes.get(str(payload.get("job", "")), ())):
                inbox.queue.put_nowait(payload)


def _cancel_kept() -> None:
    """Raise the cancellation of the running task if a read's timeout swallowed it.

    On Python 3.11, a cancel that lands as ``asyncio.timeout`` expires (redis-py's ``get_message(timeout=)``)
    comes out as that timeout, and ``get_message`` returns None: a loop that reads on would never end (the
    listener's reader held its event loop open at shutdown). ``Task.cancelling()`` still counts it.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


_listeners: dict[int, Listener] = {}


def listener() -> Listener:
    """The listener of the running event loop."""
    loop = asyncio.get_running_loop()
    found = _listeners.get(id(loop))
    if found is None or found.loop is not loop:
        for key, old in list(_listeners.items()):  # loops that ended (tests run one per call)
            if old.loop.is_closed():
                del _listeners[key]
        found = _listeners[id(loop)] = Listener(loop)
    return found


async def inbox_open(job_id) -> Inbox:
    return await listener().open(job_id)


def _ended(job_id, payload: dict[str, Any]) -> InferenceJob | None:
    """The finished job as its done message describes it, when the message carries the outcome."""
    result = payload.get("result")
    if not isinstance(result, dict):
        return None
    return InferenceJob(id=job_id, status=payload.get("status"), **result)


async def job_stream_events(job_id, timeout: float) -> AsyncIterator[dict[str, Any]]:
    """Messages about a streaming job, on a pub/sub connection of its own, until it ends or ``timeout``.

    A stream is read after the view returned (on another event loop under
    Django's test client), and text arrives token by token: its own
    connection delivers it as it is published.

    Yields ``{"event": "text", "output": ...}`` while text streams and finally
    ``{"event": "done", "job": InferenceJob}``; nothing more after a timeout.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    pubsub = listener().client.pubsub(ignore_subscribe_messages=True)
    try:
        await pubsub.subscribe(events.channel(job_id))
        job = await job_read(job_id)
        if job.is_terminal:
            yield {"event": "done", "job": job}
            return
        while (remaining := deadline - loop.time()) > 0:
            message = await pubsub.get_message(timeout=min(remaining, QUIET_CHECK_S))
            if message is None:
                _cancel_kept()
                # Quiet for 5 s: a lost message must not leave a waiter hanging.
                job = await job_read(job_id)
                if job.is_terminal:
                    yield {"event": "done", "job": job}
                    return
                continue
            payload = events.message_decode(message["data"])
            if payload.get("event") == "done":
                yield {"event": "done", "job": await job_read(job_id)}
                return
            yield payload
    finally:
        try:
            await pubsub.unsubscribe()
            await pubsub.aclose()
        except Exception:  # the connection may be gone already; nothing to clean up then
            pass


async def wait_for_job(job_id, inbox: Inbox, timeout: float) -> InferenceJob | None:
    """The job once it ended, or None when ``timeout`` passed first.

    ``inbox`` was opened before the job was submitted, so its done message
    cannot have been missed; the caller closes it.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (remaining := deadline - loop.time()) > 0:
        payload = await inbox.get(timeout=min(remaining, QUIET_CHECK_S))
        if payload is None:  # quiet: a lost message must not leave the request hanging
            job = await job_read(job_id)
            if job.is_terminal:
                return job
        elif payload.get("event") == "done":
            return _ended(job_id, payload) or await job_read(job_id)
    return None
