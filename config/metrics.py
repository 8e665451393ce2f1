"""``GET /metrics`` (Prometheus's text format) and the request metrics behind it.

Requests are counted by endpoint and status: the endpoint is the matched URL
pattern's name (``api:task-emotion``, ``api:job-detail``), never the raw path, so
ids and typos do not grow the label set; a request no pattern matched (a 404
outside the API, a static file, a body refused before routing) is
``<unmatched>``. The engine's metrics (jobs, batches, models, sweeper, queue
depth) are defined in ``inference/metrics.py``.

Who may scrape: with ``METRICS_TOKEN`` set, a request with ``Authorization:
Bearer <token>``; without it, only a request from a loopback address that came
through no proxy (a reverse proxy on the same machine makes every visitor look
local: set a token there).
"""

from __future__ import annotations

import hmac
import ipaddress
import time

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from inference import metrics as engine_metrics

UNMATCHED = "<unmatched>"
PROXY_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")

REQUESTS = Counter("forwardpass_http_requests_total", "HTTP requests by endpoint (URL pattern name) and status.",
                   ["endpoint", "status"])
REQUEST_SECONDS = Histogram("forwardpass_http_request_duration_seconds",
                            "Time to a response (a streamed body's first bytes), by endpoint.", ["endpoint"],
                            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))


def _endpoint(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    return match.view_name if match is not None else UNMATCHED


def _observe(request: HttpRequest, response: HttpResponse, started: float) -> None:
    endpoint = _endpoint(request)
    REQUESTS.labels(endpoint=endpoint, status=str(response.status_code)).inc()
    REQUEST_SECONDS.labels(endpoint=endpoint).observe(time.perf_counter() - started)


class RequestMetricsMiddleware:
    """Counts every request (first in ``MIDDLEWARE``, so it sees the final status): one counter increment and
    one histogram observation."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        started = time.perf_counter()
        response = self.get_response(request)
        _observe(request, response, started)
        return response

    async def __acall__(self, request: HttpRequest):
        started = time.perf_counter()
        response = await self.get_response(request)
        _observe(request, response, started)
        return response


def _loopback(address: str | None) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


def _refusal(request: HttpRequest) -> HttpResponse | None:
    token = settings.METRICS_TOKEN
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return None
        response = HttpResponse("Metrics need an 'Authorization: Bearer <METRICS_TOKEN>' header.\n", status=401,
                                content_type="text/plain; charset=utf-8")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if _loopback(request.META.get("REMOTE_ADDR")) and not any(request.headers.get(h) for h in PROXY_HEADERS):
        return None
    return HttpResponse("Metrics are served to loopback addresses only; set METRICS_TOKEN to scrape from "
                        "elsewhere.\n", status=403, content_type="text/plain; charset=utf-8")


def metrics_registry() -> CollectorRegistry:
    """What one scrape reports: every process's samples (multiprocess mode) or this process's, and the queues."""
    registry = CollectorRegistry()
    path = engine_metrics.multiprocess_dir()
    if path:
        MultiProcessCollector(registry, path=path)
    else:
        registry.register(REGISTRY)
    registry.register(engine_metrics.QueueDepthCollector())
    return registry


@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus's text format (or OpenMetrics when the scraper asks for it)."""
    refusal = _refusal(request)
    if refusal is not None:
        return refusal
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encoder(metrics_registry()), content_type=content_type)
