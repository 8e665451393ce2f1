"""Request limits of the task endpoints: per-key rate (a DRF throttle), monthly compute allowance, queue depth.

Each refusal is an ``inference.errors.ApiError`` with ``retry_after``; the
exception handler answers it (429 or 503, with ``Retry-After``).
"""

from __future__ import annotations

from collections.abc import Sequence

import redis
from django.conf import settings
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from dashboard.selectors import month_start, next_month_start, usage_total
from inference.errors import ApiError, LimitReached, Unavailable
from inference.jobs import JobRequest, events
from inference.jobs.selectors import model_resolve
from inference.jobs.statements import jobs_queued_count
from inference.registry import kind_get


class ApiKeyRateThrottle(SimpleRateThrottle):
    """``API_RATE_LIMIT_PER_MINUTE`` requests per key (the sandbox: per user) in fixed one-minute windows.

    DRF's ``SimpleRateThrottle`` keeps a list of timestamps per key in the
    cache, read and written back on every request: concurrent requests of
    one key overwrite each other's entry (the limit leaks under load), the
    list grows with the limit, and Django's cache under ASGI opened a Redis
    connection per request. Measured per check on this machine: 100 µs of
    CPU for this counter, 216 µs for DRF's history at 60/min (453 µs as it
    grows), 1,660 µs through Django's per-request cache. So the window is one
    atomic ``INCR`` (with its expiry) in one round trip on the process's
    shared Redis pool; DRF still decides when it applies and how the 429 reads.
    Redis not answering is raised (the request answers 503 within
    ``REDIS_SOCKET_TIMEOUT_S``): the job could not be queued either, and this is
    the request's first call to Redis.
    """

    scope = "api_key"
    cache_format = "fp:rate:%(ident)s:%(window)d"

    def get_rate(self) -> str | None:
        limit = settings.API_RATE_LIMIT_PER_MINUTE
        return f"{limit}/min" if limit > 0 else None

    def get_cache_key(self, request, view) -> str | None:
        api_key = request.auth
        ident = f"key:{api_key.prefix}" if api_key is not None else f"user:{request.user.pk}"
        return self.cache_format % {"ident": ident, "window": int(self.now // self.duration)}

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.now = self.timer()
        self.key = self.get_cache_key(request, view)
        pipe = events.redis_client().pipeline(transaction=False)
        pipe.incr(self.key)
        pipe.expire(self.key, self.duration + 10, nx=True)
        count = pipe.execute()[0]
        return count <= self.num_requests

    def wait(self) -> int:
        """Seconds until the next window opens (at least 1)."""
        return max(1, int(self.duration - self.now % self.duration) + 1)



def rate_limits_check(requests: Sequence[Request], allowances: dict[object, float | None] | None = None
                      ) -> list[int | None]:
    """``ApiKeyRateThrottle`` for several requests in one round trip (the web's batches, ``jobs_accept``):
    for each, None when it may go on, else the seconds until the next window opens.

    ``allowances``: filled, in the same round trip, with each requesting user's month of compute seconds
    as last summed (``compute_seconds_this_month_cached``; None where no sum is cached), for
    ``CallerLimits``. A round trip of its own cost a single request about 0.4 ms.
    """
    throttle = ApiKeyRateThrottle()
    users = {request.user.pk: request.user for request in requests} if allowances is not None else {}
    if settings.MONTHLY_COMPUTE_SECONDS <= 0:
        users = {}
    if (throttle.rate is None and not users) or not requests:
        return [None] * len(requests)
    pipe = events.redis_client().pipeline(transaction=False)
    if throttle.rate is not None:
        throttle.now = throttle.timer()
        for request in requests:
            key = throttle.get_cache_key(request, None)
            pipe.incr(key)
            pipe.expire(key, throttle.duration + 10, nx=True)
    for user in users.values():
        pipe.get(_allowance_key(user))
    try:
        replies = pipe.execute()
    except redis.RedisError:
        if throttle.rate is not None:
            raise  # the rate limit's own error: 503 (``ApiKeyRateThrottle``)
        return [None] * len(requests)  # the allowances are read on their own, falling back to the database
    counted = 2 * len(requests) if throttle.rate is not None else 0  # INCR and EXPIRE a request, then GETs
    if allowances is not None:
        for pk, cached in zip(users, replies[counted:], strict=True):
            allowances[pk] = float(cached) if cached is not None else None
    if throttle.rate is None:
        return [None] * len(requests)
    return [None if count <= throttle.num_requests else throttle.wait() for count in replies[0:counted:2]]


def rate_limited(retry_after: int) -> LimitReached:
    """The refusal of a throttled request (``APIView.throttled``)."""
    return LimitReached("rate_limited", f"Rate limit of {settings.API_RATE_LIMIT_PER_MINUTE} requests a minute "
                        f"per key reached; retry in {retry_after} s.", retry_after=retry_after)


def _allowance_key(user) -> str:
    return f"fp:allowance:{user.pk}:{month_start():%Y-%m}"


_NOT_READ = object()


def compute_seconds_this_month_cached(*, user, cached: object = _NOT_READ) -> float:
    """The month's compute seconds, summed at most every ``ALLOWANCE_CACHE_S`` per user.

    Summing a busy user's month on every request grows with their jobs; the
    allowance may be overrun by what finishes within that window. ``cached``: the
    cached sum when the caller read it already (``rate_limits_check``; None: none cached).
    """
    since = month_start()
    key = _allowance_key(user)
    try:
        if cached is _NOT_READ:
            cached = events.redis_client().get(key)
        if cached is not None:
            return float(cached)  # type: ignore[arg-type]
    except redis.RedisError:
        return usage_total(user=user, since=since)["compute_seconds"]
    used = usage_total(user=user, since=since)["compute_seconds"]
    try:
        events.redis_client().set(key, used, ex=settings.ALLOWANCE_CACHE_S)
    except redis.RedisError:
        pass
    return used


def allowance_check(*, user, cached: object = _NOT_READ) -> None:
    """Refuse new jobs once the month's compute seconds are spent (until the 1st). ``cached``: see
    ``compute_seconds_this_month_cached``."""
    allowance = settings.MONTHLY_COMPUTE_SECONDS
    if allowance <= 0:
        return
    used = compute_seconds_this_month_cached(user=user, cached=cached)
    if used >= allowance:
        renews = next_month_start()
        raise LimitReached("allowance_spent", f"The monthly allowance of {allowance:,} compute seconds is spent "
                           f"({used:,.1f} s used); it renews on {renews:%Y-%m-%d}.",
                           retry_after=int((renews - timezone.now()).total_seconds()))


def _queued(model_id: str, user) -> int:
    """The model's jobs waiting for a worker: its queued rows (a Celery message may carry several jobs)."""
    spec = model_resolve(model_id=model_id, user=user)
    if spec is None:
        return 0
    return jobs_queued_count(model_key=spec.key)


def queue_depth_check(*, model_id: str, user=None, queued: int | None = None) -> None:
    """Refuse a job while its model's queue is full (retry in 5 s). ``queued``: the count, when known."""
    limit = settings.API_MAX_QUEUED_PER_MODEL
    if queued is None:
        queued = _queued(model_id, user) if limit > 0 else 0
    if queued >= limit:
        raise Unavailable("queue_full", f"The queue for '{model_id}' is full ({queued} jobs waiting); "
                          "retry shortly.", retry_after=5)


class CallerLimits:
    """The callers' limits for the requests of one batch (``jobs_accept``): the monthly allowance read once per
    user, the model's queue counted once per model and then counted on with the jobs let through.

    ``allowances``: the users' cached sums read by ``rate_limits_check`` (else each is read here)."""

    def __init__(self, allowances: dict[object, float | None] | None = None) -> None:
        self.allowances = allowances or {}
        self.allowance_checked: dict[object, ApiError | None] = {}
        self.queued: dict[str, int] = {}

    def check(self, request: JobRequest) -> None:
        """Raise the ``ApiError`` refusing ``request`` (allowance spent, queue full); else count it queued."""
        user = request.user
        if user.pk not in self.allowance_checked:
            try:
                allowance_check(user=user, cached=self.allowances.get(user.pk, _NOT_READ))
                self.allowance_checked[user.pk] = None
            except ApiError as exc:
                self.allowance_checked[user.pk] = exc
        refusal = self.allowance_checked[user.pk]
        if refusal is not None:
            raise refusal
        kind = kind_get(request.kind_name)
        model_id = request.model_id or (kind.default_model if kind is not None else "")
        key = f"{user.pk}:{model_id}"  # a user's own models have their own queues' names
        if key not in self.queued:
            self.queued[key] = _queued(model_id, user) if settings.API_MAX_QUEUED_PER_MODEL > 0 else 0
        queue_depth_check(model_id=model_id, user=user, queued=self.queued[key])
        self.queued[key] += 1

