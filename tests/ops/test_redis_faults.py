"""Transient faults: a frozen Redis (SIGSTOP) makes calls fail within their timeouts, never hang them."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from inference.jobs import events

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT_S = 1.0
EMOTION = {"text": "The service was awful.", "model": "tiny-emotion"}


@pytest.fixture
def frozen_broker(settings, redis_server, use_broker):
    """Redis (events and broker) on a server of the test's own, with 1 s timeouts; frozen by the test."""
    server = redis_server()
    use_broker(server.url)
    settings.REDIS_SOCKET_TIMEOUT_S = settings.REDIS_CONNECT_TIMEOUT_S = TIMEOUT_S
    from config.celery import app

    options = app.conf.broker_transport_options
    app.conf.broker_transport_options = {**options, "socket_timeout": TIMEOUT_S, "socket_connect_timeout": TIMEOUT_S}
    yield server
    server.thaw()
    app.conf.broker_transport_options = options


def bounded(call, *, limit: float):
    """``call()``'s result or exception, and how long it took; fails the test if it runs past ``limit``."""
    outcome: dict = {}

    def run():
        started = time.monotonic()
        try:
            outcome["value"] = call()
        except Exception as exc:  # noqa: BLE001 - the exception is the outcome under test
            outcome["error"] = exc
        outcome["elapsed"] = time.monotonic() - started

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(limit)
    assert not thread.is_alive(), f"still waiting after {limit} s: the call hangs on the frozen Redis"
    return outcome


def test_a_client_call_on_a_frozen_redis_fails_within_its_timeout(frozen_broker):
    client = events.redis_client()
    assert client.ping()
    frozen_broker.freeze()
    outcome = bounded(lambda: client.get("fp:anything"), limit=10)
    assert isinstance(outcome.get("error"), redis.TimeoutError), outcome
    assert outcome["elapsed"] < TIMEOUT_S + 1.5
    frozen_broker.thaw()
    assert client.ping()


@pytest.mark.parametrize("prefer", ["wait=5", "respond-async"])
def test_an_api_request_while_redis_is_frozen_answers_503_then_works_after_sigcont(
        frozen_broker, api_client, tiny_models, prefer):
    frozen_broker.freeze()
    outcome = bounded(lambda: api_client.post("/api/emotion", EMOTION, format="json", HTTP_PREFER=prefer),
                      limit=30)
    assert "error" not in outcome, outcome
    response = outcome["value"]
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable"
    assert response["Retry-After"]
    assert outcome["elapsed"] < 15, outcome["elapsed"]
    # A request answered 503 leaves no job that would run later (and run twice if the user retries).
    from inference.models import ACTIVE_STATUSES, InferenceJob

    assert not InferenceJob.objects.filter(status__in=ACTIVE_STATUSES).exists()
    for job in InferenceJob.objects.all():
        assert job.status == "failed" and "could not be queued" in job.error

    frozen_broker.thaw()
    response = api_client.post("/api/emotion", EMOTION, format="json", HTTP_PREFER="respond-async")
    assert response.status_code == 202, response.json()
    # The job's message reached the broker: a worker would run it.
    from inference.catalog import catalog_get

    assert redis.Redis.from_url(frozen_broker.url).llen(catalog_get("tiny-emotion").queue) >= 1


def test_a_request_to_a_live_server_whose_redis_froze_answers_503_within_the_socket_timeout(
        frozen_broker, user, tiny_models):
    """Under a real server the web process's Redis connections are already open when Redis freezes: its
    first call to Redis is written but never answered. Found by ``make chaos`` (redis-freeze): requests waited
    for a subscription, then submitted and waited for the broker's timeouts too, 15-25 s in all. The request's
    first call to Redis (the rate limit's counter) now raises at the socket timeout: a 503 within it."""
    import requests

    from dashboard.services import api_key_create
    from tests.api.conftest import LiveServer

    key = api_key_create(user=user, name="frozen").plaintext
    timeouts = {"REDIS_SOCKET_TIMEOUT_S": str(TIMEOUT_S), "REDIS_CONNECT_TIMEOUT_S": str(TIMEOUT_S)}
    server = LiveServer(extra_env={"REDIS_URL": frozen_broker.url, "CELERY_BROKER_URL": frozen_broker.url,
                                   **timeouts}, name="uvicorn-frozen-redis")
    post = lambda wait: requests.post(f"{server.url}/api/emotion", json=EMOTION, timeout=30,  # noqa: E731
                                      headers={"x-api-key": key, "Prefer": f"wait={wait}"})
    try:
        assert post(1).status_code == 202  # no worker: accepted after its wait; the connections are open now
        frozen_broker.freeze()
        started = time.monotonic()
        response = post(5)
        elapsed = time.monotonic() - started
    finally:
        frozen_broker.thaw()
        server.stop()
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "service_unavailable"
    assert elapsed < TIMEOUT_S + 1.5, elapsed


def test_subscriptions_while_redis_keeps_killing_the_listeners_connection_never_fail_with_a_500(
        settings, redis_server, use_broker):
    """Found by ``make chaos`` (lost-done, CLIENT KILL TYPE pubsub every 0.3 s): a SUBSCRIBE on the connection
    Redis had just closed failed inside redis-py with ``AttributeError: 'NoneType' object has no attribute
    'writelines'`` (or a ``RuntimeError``: two readers on one socket), a 500. Now the listener reconnects once;
    what still fails is a ``ConnectionError`` (503)."""
    import asyncio
    import uuid

    from api.waiting import inbox_open, listener

    server = redis_server()
    use_broker(server.url)
    killer = redis.Redis.from_url(server.url)

    stop = threading.Event()

    def kill_again_and_again() -> None:
        while not stop.is_set():
            killer.client_kill_filter(_type="pubsub")
            time.sleep(0.003)

    async def one() -> tuple[int, list[BaseException]]:
        try:
            inbox = await inbox_open(uuid.uuid4())
        except (redis.ConnectionError, redis.TimeoutError):
            return 0, []  # Redis not answering this time (or not in time): a 503, as the middleware answers it
        except BaseException as exc:  # noqa: BLE001 - anything else is the bug
            return 0, [exc]
        await inbox.close()
        return 1, []

    async def subscribe_under_kills() -> tuple[int, list[BaseException]]:
        opened, unexpected = 0, []
        try:
            for _ in range(40):  # many requests at once, as under load, while the connection keeps being killed
                for count, errors in await asyncio.gather(*(one() for _ in range(8))):
                    opened += count
                    unexpected += errors
        finally:
            # The listener's reader must end when cancelled (as the loop's teardown does): a cancel that
            # landed as its read's timeout expired was taken for that timeout (Python 3.11's asyncio.timeout)
            # and the reader read on for ever, so asyncio.run never returned and the suite hung.
            stop.set()
            thread.join(5)
            reader = listener().reader
            if reader is not None and not reader.done():
                reader.cancel()
                await asyncio.wait([reader], timeout=5)
            unexpected += [RuntimeError("the listener's reader did not stop when cancelled")] if (
                reader is not None and not reader.done()) else []
        return opened, unexpected

    thread = threading.Thread(target=kill_again_and_again, daemon=True)
    thread.start()
    try:
        opened, unexpected = asyncio.run(subscribe_under_kills())
    finally:
        stop.set()
        thread.join(5)
    killer.close()
    assert unexpected == []
    assert opened > 80  # of 320: the reconnect gets most of them through
