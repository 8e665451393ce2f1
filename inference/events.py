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

_clients: dict[str, redis.Redis] = {}
_lock = threading.Lock()


def channel(job_id: UUID | str) -> str:
    return f"fp:job:{job_id}"


def redis_client(url: str | None = None) -> redis.Redis:
    """A client on one connection pool per process (thread-safe), for ``url`` (default ``REDIS_URL``)."""
    url = url or settings.REDIS_URL
    client = _clients.get(url)
    if client is None:
        with _lock:
            client = _clients.setdefault(url, redis.Redis.from_url(url))
    return client



def publish(job_id: UUID | str, event: str, **data: Any) -> None:
    """Best effort: waiters fall back to the database row if a message is lost."""
    try:
        redis_client().publish(channel(job_id), json.dumps({"event": event, **data}))
    except redis.RedisError:
        pass


def publish_many(messages: list[tuple[UUID | str, str, dict[str, Any]]]) -> None:
    """Several events in one round trip (a batch's done events); best effort like ``publish``."""
    if not messages:
        return
    try:
        pipe = redis_client().pipeline(transaction=False)
        for job_id, event, data in messages:
            pipe.publish(channel(job_id), json.dumps({"event": event, **data}))
        pipe.execute()
    except redis.RedisError:
        pass


def cancel_flag_set(job_id: UUID | str) -> None:
    """Tell a worker that is generating for this job to stop (checked between tokens)."""
    try:
        redis_client().set(f"fp:cancel:{job_id}", b"1", ex=3600)
    except redis.RedisError:
        pass


def cancel_flag_get(job_id: UUID | str) -> bool:
    try:
        return bool(redis_client().exists(f"fp:cancel:{job_id}"))
    except redis.RedisError:
        return False


def cancel_flags_count(job_ids: list[str]) -> int:
    """How many of ``job_ids`` were cancelled (one EXISTS over their flags); 0 when Redis is away."""
    if not job_ids:
        return 0
    try:
        return int(redis_client().exists(*[f"fp:cancel:{job_id}" for job_id in job_ids]))
    except redis.RedisError:
        return 0
