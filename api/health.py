"""Readiness for a load balancer or an orchestrator: do the database and Redis answer?

``GET /api/health`` needs no key. It answers 200 when every check passes and
503 naming what failed, each check bounded by a short timeout. It also says
how the broker Redis keeps queued jobs (``broker_persistence``): a broker that
keeps nothing on disk still works, so it is a warning with a 200, not a 503.
Once Redis answers, it also lists the catalog's installed models, each ``warm``
when some live worker has it loaded, else ``cold``, and how many workers are
live (``inference.jobs.warm``): a cold model is not a failure.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from django.conf import settings
from django.db import connection

from inference.jobs.events import broker_persistence, client_options
from inference.jobs.warm import models_warmth

logger = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 2.0


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, **client_options(timeout=CHECK_TIMEOUT_S))


def _redis(url: str) -> None:
    client = _client(url)
    try:
        client.ping()
    finally:
        client.close()


def _warmth(extra: dict[str, Any]) -> None:
    client = _client(settings.REDIS_URL)
    try:
        extra["models"], extra["workers"] = models_warmth(client)
    except Exception as exc:  # Redis answered the check a moment ago: say so rather than fail the whole report
        logger.warning("health: cannot read the warm models: %s", exc)
        extra["warnings"].append(f"cannot tell which models are warm: {type(exc).__name__}")
    finally:
        client.close()


def health_report() -> tuple[bool, dict[str, str], dict[str, Any]]:
    """(all passed, {check: "ok" or what went wrong}, extra): extra holds "warnings", and "broker_persistence"
    when the broker answered, "models" ({model id: "warm" or "cold"}) and "workers" when Redis did."""
    checks = {"database": _database, "redis": lambda: _redis(settings.REDIS_URL)}
    broker = settings.CELERY_BROKER_URL
    if broker != settings.REDIS_URL and broker.startswith(("redis://", "rediss://")):
        checks["broker"] = lambda: _redis(broker)
    report: dict[str, str] = {}
    for name, check in checks.items():
        try:
            check()
            report[name] = "ok"
        except Exception as exc:  # any failure is the check's answer, not a 500
            logger.warning("health check %s failed: %s", name, exc)
            report[name] = f"failing: {type(exc).__name__}"
    healthy = all(value == "ok" for value in report.values())
    extra: dict[str, Any] = {"warnings": []}
    if report.get("broker", report["redis"]) == "ok":
        mode, message = broker_persistence(broker, timeout=CHECK_TIMEOUT_S)
        extra["broker_persistence"] = mode
        if mode in ("none", "unknown"):
            extra["warnings"].append(message)
    if report["redis"] == "ok":
        _warmth(extra)
    return healthy, report, extra
