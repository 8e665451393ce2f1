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
import redis.asyncio.retry
from django.conf import settings
from redis.backoff import ConstantBackoff
from redis.retry import Retry

_clients: dict[str, redis.Redis] = {}
_lock = threading.Lock()


def channel(job_id: UUID | str) -> str:
    return f"fp:job:{job_id}"


def client_options(*, asyncio: bool = False, timeout: float | None = None) -> dict[str, Any]:
    """Connect and socket timeouts for every Redis client, so a frozen Redis is an error, not a hang.

    A dropped connection (a restarted Redis) is tried once more at once; a
    timeout is not retried, so a call fails within ``REDIS_SOCKET_TIMEOUT_S``
    (``timeout`` when given) rather than after redis-py's ten default retries.
    """
    retry_class = redis.asyncio.retry.Retry if asyncio else Retry
    return {
        "socket_connect_timeout": min(settings.REDIS_CONNECT_TIMEOUT_S, timeout or settings.REDIS_CONNECT_TIMEOUT_S),
        "socket_timeout": timeout or settings.REDIS_SOCKET_TIMEOUT_S,
        "socket_keepalive": True,
        "retry": retry_class(ConstantBackoff(0.05), 1, supported_errors=(redis.ConnectionError,)),
    }


def redis_client(url: str | None = None) -> redis.Redis:
    """A client on one connection pool per process (thread-safe), for ``url`` (default ``REDIS_URL``)."""
    url = url or settings.REDIS_URL
    client = _clients.get(url)
    if client is None:
        with _lock:
            client = _clients.setdefault(url, redis.Redis.from_url(url, **client_options()))
    return client


def broker_persistence(url: str, *, timeout: float | None = None) -> tuple[str, str]:
    """How the Redis at ``url`` keeps its data: ("aof" | "rdb" | "none" | "unknown", a sentence).

    "none" (no append-only file, no snapshots) means every queued job is lost
    when that Redis restarts, until the sweeper re-sends it.
    """
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return "unknown", "The broker is not Redis."
    client = redis.Redis.from_url(url, **client_options(timeout=timeout))
    try:
        if int(client.info("persistence").get("aof_enabled", 0)):
            return "aof", "The broker Redis keeps an append-only file."
        try:
            save = client.config_get("save").get("save", "")
        except redis.ResponseError:  # CONFIG disabled (a managed Redis): snapshots unknown
            return "unknown", "The broker Redis keeps no append-only file; its snapshot settings cannot be read."
        if save:
            return "rdb", f"The broker Redis keeps snapshots only (save {save}); jobs queued since the last " \
                          "one are lost if it restarts."
        return "none", ("The broker Redis keeps nothing on disk (no append-only file, no snapshots): queued "
                        "jobs are lost if it restarts, until they are re-sent. Give it appendonly yes, or let "
                        "make run start its own (leave REDIS_URL unset).")
    except redis.RedisError as exc:
        return "unknown", f"The broker Redis did not say how it keeps its data ({type(exc).__name__})."
    finally:
        client.close()



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
