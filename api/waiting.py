"""Waiting for a job without holding a thread: Redis pub/sub in the event loop.

Subscribe first, then read the row once (so a job that ended in between is not
missed), then await the job's "done" message. Streaming reads "text"
messages from the same channel.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis
from django.conf import settings

from inference import events
from inference.models import InferenceJob

_clients: dict[int, aioredis.Redis] = {}


def _client() -> aioredis.Redis:
    """One client (connection pool) per event loop."""
    loop_id = id(asyncio.get_running_loop())
    client = _clients.get(loop_id)
    if client is None:
        client = aioredis.Redis.from_url(settings.REDIS_URL, max_connections=1024)
        _clients[loop_id] = client
    return client


async def job_events(job_id, timeout: float) -> AsyncIterator[dict[str, Any]]:
    """Messages about a job until it ends or ``timeout`` passes.

    Yields ``{"event": "text", "output": ...}`` while text streams and finally
    ``{"event": "done", "job": InferenceJob}``; nothing more after a timeout.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    pubsub = _client().pubsub(ignore_subscribe_messages=True)
    try:
        await pubsub.subscribe(events.channel(job_id))
        job = await InferenceJob.objects.aget(id=job_id)
        if job.is_terminal:
            yield {"event": "done", "job": job}
            return
        while (remaining := deadline - loop.time()) > 0:
            message = await pubsub.get_message(timeout=min(remaining, 5.0))
            if message is None:
                # Quiet for 5 s: a lost message must not leave a waiter hanging.
                job = await InferenceJob.objects.aget(id=job_id)
                if job.is_terminal:
                    yield {"event": "done", "job": job}
                    return
                continue
            payload = json.loads(message["data"])
            if payload.get("event") == "done":
                yield {"event": "done", "job": await InferenceJob.objects.aget(id=job_id)}
                return
            yield payload
    finally:
        try:
            await pubsub.unsubscribe()
            await pubsub.aclose()
        except Exception:  # the connection may be gone already; nothing to clean up then
            pass


async def wait_for_job(job_id, timeout: float) -> InferenceJob | None:
    """The job once it ended, or None when ``timeout`` passed first."""
    async for message in job_events(job_id, timeout):
        if message["event"] == "done":
            return message["job"]
    return None
