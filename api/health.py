"""Readiness for a load balancer or an orchestrator: do the database and Redis answer?

``GET /api/health`` needs no key. It answers 200 when every check passes and
503 naming what failed, each check bounded by a short timeout. It also says
how the broker Redis keeps queued jobs (``broker_persistence``): a broker that
keeps nothing on disk still works, so it is a warning with a 200, not a 503.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from django.conf import settings
from django.db import connection

from inference.jobs.events import broker_persistence, client_options

logger = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 2.0


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _redis(url: str) -> None:
    client = redis.Redis.from_url(url, **client_options(timeout=CHECK_TIMEOUT_S))
    try:
        client.ping()
    finally:
        client.close()


def health_report() -> tuple[bool, dict[str, str], dict[str, Any]]:
    """(all passed, {check: "ok" or what went wrong}, {"broker_persistence": mode, "warnings": [...]})."""
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
    return healthy, report, extra
