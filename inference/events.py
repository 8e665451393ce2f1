"""Job events over Redis pub/sub: a worker publishes, waiting requests listen.

Channel ``fp:job:<id>`` carries JSON messages: ``{"event": "done", "status": ...}``
when a job ends, and ``{"event": "text", ...}`` while text generation streams.
Waiting is event-driven: a request subscribes, then checks the row once, then
awaits a message (see ``api/waiting.py``).
"""

from __future__ import annotations

import json
import threading
from typing import Any
from uuid import UUID

import redis
from django.conf import settings

_local = threading.local()


def channel(job_id: UUID | str) -> str:
    return f"fp:job:{job_id}"


def _client() -> redis.Redis:
    client = getattr(_local, "client", None)
    if client is None:
        client = redis.Redis.from_url(settings.REDIS_URL)
        _local.client = client
    return client


def publish(job_id: UUID | str, event: str, **data: Any) -> None:
    """Best effort: waiters fall back to the database row if a message is lost."""
    try:
        _client().publish(channel(job_id), json.dumps({"event": event, **data}))
    except redis.RedisError:
        pass


def cancel_flag_set(job_id: UUID | str) -> None:
    """Tell a worker that is generating for this job to stop (checked between tokens)."""
    try:
        _client().set(f"fp:cancel:{job_id}", b"1", ex=3600)
    except redis.RedisError:
        pass


def cancel_flag_get(job_id: UUID | str) -> bool:
    try:
        return bool(_client().exists(f"fp:cancel:{job_id}"))
    except redis.RedisError:
        return False
