"""Reads for the dashboard."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from inference.models import InferenceJob

from .models import UserAPIKey


def api_key_list(*, user: AbstractBaseUser) -> QuerySet[UserAPIKey]:
    return UserAPIKey.objects.filter(user=user).select_related("rotated_to").order_by("-created")


def api_key_get(*, user: AbstractBaseUser, prefix: str) -> UserAPIKey:
    """A key of ``user`` by prefix; another user's key is DoesNotExist (a 404)."""
    return UserAPIKey.objects.get(user=user, prefix=prefix)


# Usage: compute time recorded on each job (InferenceJob.compute_ms), summed with the ORM. The monthly
# allowance (MONTHLY_COMPUTE_SECONDS, enforced by api/limits.py) counts the calendar month's.

def month_start() -> datetime:
    now = timezone.now()
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month_start() -> datetime:
    start = month_start()
    return start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)


def _jobs_since(*, user: AbstractBaseUser, since: datetime) -> QuerySet:
    return InferenceJob.objects.filter(owner=user, created_at__gte=since).order_by()


# Tokens read and written by generation and chat jobs (InferenceJob.prompt_tokens / completion_tokens).
_TOKENS = {"prompt_tokens": Sum("prompt_tokens"), "completion_tokens": Sum("completion_tokens")}


def _tokens(row: dict[str, Any]) -> dict[str, int]:
    prompt, completion = row.get("prompt_tokens") or 0, row.get("completion_tokens") or 0
    return {"prompt_tokens": prompt, "completion_tokens": completion, "tokens": prompt + completion}


def usage_total(*, user: AbstractBaseUser, since: datetime) -> dict[str, Any]:
    """``{"jobs": n, "compute_seconds": s, "load_seconds": l}`` for the user's jobs created since ``since``.

    Compute seconds (the jobs' own work, cancelled jobs' included) count against the allowance; load
    seconds (workers loading a model before a job, a cold start) are shown apart and not charged.
    """
    row = _jobs_since(user=user, since=since).aggregate(jobs=Count("id"), ms=Sum("compute_ms"),
                                                         load=Sum("load_ms"), **_TOKENS)
    return {"jobs": row["jobs"], "compute_seconds": (row["ms"] or 0) / 1000,
            "load_seconds": (row["load"] or 0) / 1000, **_tokens(row)}


def usage_by_day(*, user: AbstractBaseUser, days: int = 30, today: date | None = None) -> list[dict[str, Any]]:
    """One row per day of the last ``days`` days (oldest first, empty days included), in the current time zone."""
    today = today or timezone.localdate()
    first = today - timedelta(days=days - 1)
    since = timezone.make_aware(datetime.combine(first, time.min))
    rows = (_jobs_since(user=user, since=since)
            .annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
            .values("day").annotate(jobs=Count("id"), ms=Sum("compute_ms"), **_TOKENS).order_by("day"))
    found = {row["day"]: row for row in rows}
    result = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        row = found.get(day, {})
        result.append({"day": day, "jobs": row.get("jobs", 0), "compute_seconds": (row.get("ms") or 0) / 1000,
                       **_tokens(row)})
    return result


def usage_by_kind(*, user: AbstractBaseUser, since: datetime) -> list[dict[str, Any]]:
    """Jobs, compute seconds and tokens per task kind, most compute first."""
    rows = (_jobs_since(user=user, since=since).values("task_kind")
            .annotate(jobs=Count("id"), ms=Sum("compute_ms"), **_TOKENS).order_by("task_kind"))
    result = [{"task_kind": row["task_kind"], "jobs": row["jobs"], "compute_seconds": (row["ms"] or 0) / 1000,
               **_tokens(row)} for row in rows]
    return sorted(result, key=lambda row: -row["compute_seconds"])


def usage_by_key(*, user: AbstractBaseUser, since: datetime) -> list[dict[str, Any]]:
    """Jobs and compute seconds per API key (name and prefix); jobs without a key are the sandbox's."""
    rows = (_jobs_since(user=user, since=since).values("api_key__name", "api_key__prefix")
            .annotate(jobs=Count("id"), ms=Sum("compute_ms")).order_by("api_key__prefix"))
    result = [{"name": row["api_key__name"] or "sandbox", "prefix": row["api_key__prefix"] or "",
               "is_sandbox": row["api_key__prefix"] is None, "jobs": row["jobs"],
               "compute_seconds": (row["ms"] or 0) / 1000} for row in rows]
    return sorted(result, key=lambda row: -row["compute_seconds"])
