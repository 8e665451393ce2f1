"""Request limits: per-key rate, per-user jobs in flight, monthly compute allowance, queue depth."""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db.models import Sum
from django.utils import timezone

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
    key = f"rate:{subject}:{window}"
    cache.add(key, 0, timeout=70)
    try:
        count = cache.incr(key)
    except ValueError:
        cache.set(key, 1, timeout=70)
        count = 1
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


def allowance_check(*, user) -> None:
    """Refuse new jobs once the month's compute seconds are spent (429 until the 1st)."""
    allowance = settings.MONTHLY_COMPUTE_SECONDS
    if allowance <= 0:
        return
    used = compute_seconds_this_month(user=user)
    if used >= allowance:
        retry_after = int((next_month_start() - timezone.now()).total_seconds())
        raise LimitExceeded(429, "allowance_spent", f"The monthly allowance of {allowance:,} compute seconds is "
                            f"spent ({used:,.1f} s used); it renews on {next_month_start():%Y-%m-%d}.", retry_after)


def queue_depth_check(*, model_id: str) -> None:
    """503 with Retry-After when a model's queue is full."""
    queued = InferenceJob.objects.filter(model_id=model_id, status=JobStatus.QUEUED).count()
    if queued >= settings.API_MAX_QUEUED_PER_MODEL:
        raise LimitExceeded(503, "queue_full", f"The queue for '{model_id}' is full ({queued} jobs waiting); "
                            "retry shortly.", 5)
