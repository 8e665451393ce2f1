"""Request limits: per-key rate, per-user jobs in flight, monthly compute allowance, queue depth."""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis
from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from inference.jobs import events
from inference.jobs.selectors import model_resolve
from inference.models import InferenceJob, JobStatus


@dataclass(frozen=True)
class LimitExceeded(Exception):
    status: int
    code: str
    message: str
    retry_after: int


def rate_limit_check(*, subject: str) -> None:
    """Fixed one-minute windows per key (``subject``); raises LimitExceeded (429)."""
    limit = settings.API_RATE_LIMIT_PER_MINUTE
    if limit <= 0:
        return
    now = time.time()
    window = int(now // 60)
    key = f"fp:rate:{subject}:{window}"
    # One round trip on a shared connection pool (Django's cache made a
    # connection per request under ASGI). Without Redis, no rate limit.
    try:
        pipe = events.redis_client().pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, 70, nx=True)
        count = pipe.execute()[0]
    except redis.RedisError:
        return
    if count > limit:
        retry_after = max(1, int(60 - now % 60) + 1)
        raise LimitExceeded(429, "rate_limited", f"Rate limit of {limit} requests a minute per key reached; "
                            f"retry in {retry_after} s.", retry_after)


def month_start():
    now = timezone.now()
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month_start():
    start = month_start()
    return start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)


def compute_seconds_this_month(*, user) -> float:
    total = InferenceJob.objects.filter(owner=user, created_at__gte=month_start()).aggregate(ms=Sum("compute_ms"))
    return (total["ms"] or 0) / 1000


def compute_seconds_this_month_cached(*, user) -> float:
    """The month's compute seconds, summed at most every ``ALLOWANCE_CACHE_S`` per user.

    Summing a busy user's month on every request grows with their jobs; the
    allowance may be overrun by what finishes within that window.
    """
    key = f"fp:allowance:{user.pk}:{month_start():%Y-%m}"
    try:
        cached = events.redis_client().get(key)
        if cached is not None:
            return float(cached)
    except redis.RedisError:
        return compute_seconds_this_month(user=user)
    used = compute_seconds_this_month(user=user)
    try:
        events.redis_client().set(key, used, ex=settings.ALLOWANCE_CACHE_S)
    except redis.RedisError:
        pass
    return used


def allowance_check(*, user) -> None:
    """Refuse new jobs once the month's compute seconds are spent (429 until the 1st)."""
    allowance = settings.MONTHLY_COMPUTE_SECONDS
    if allowance <= 0:
        return
    used = compute_seconds_this_month_cached(user=user)
    if used >= allowance:
        retry_after = int((next_month_start() - timezone.now()).total_seconds())
        raise LimitExceeded(429, "allowance_spent", f"The monthly allowance of {allowance:,} compute seconds is "
                            f"spent ({used:,.1f} s used); it renews on {next_month_start():%Y-%m-%d}.", retry_after)


def _queued(model_id: str, user) -> int:
    """Messages waiting in the model's worker queue (one LLEN); the queued rows where the broker is not Redis."""
    spec = model_resolve(model_id=model_id, user=user)
    broker = settings.CELERY_BROKER_URL
    if spec is not None and broker.startswith(("redis://", "rediss://", "unix://")):
        try:
            return int(events.redis_client(broker).llen(spec.queue))
        except redis.RedisError:
            pass
    return InferenceJob.objects.filter(model_id=model_id, status=JobStatus.QUEUED).count()


def queue_depth_check(*, model_id: str, user=None) -> None:
    """503 with Retry-After when a model's queue is full."""
    limit = settings.API_MAX_QUEUED_PER_MODEL
    queued = _queued(model_id, user) if limit > 0 else 0
    if queued >= limit:
        raise LimitExceeded(503, "queue_full", f"The queue for '{model_id}' is full ({queued} jobs waiting); "
                            "retry shortly.", 5)
