"""Fixtures for operations tests: Redis servers of a test's own."""

from __future__ import annotations

import pytest

from .redisserver import RedisServer


@pytest.fixture
def redis_server(tmp_path):
    """``redis_server(appendonly=...)``: a started redis-server of the test's own, stopped afterwards."""
    started: list[RedisServer] = []

    def start(*, appendonly: bool = False) -> RedisServer:
        server = RedisServer(tmp_path / f"redis-{len(started)}", appendonly=appendonly).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def use_broker(settings):
    """``use_broker(url)``: this process's Redis (events) and Celery broker are ``url`` until the test ends."""
    from config.celery import app
    from inference.jobs import events

    original = app.conf.broker_url

    def point(url: str) -> None:
        settings.REDIS_URL = settings.CELERY_BROKER_URL = url
        # The Celery app read its broker when it was configured: point it, and its connection pools, here.
        app.conf.broker_url = url
        app._pool = app.amqp._producer_pool = None
        events._clients.clear()  # clients are made once per URL, with the timeouts of that moment

    yield point
    app.conf.broker_url = original
    app._pool = app.amqp._producer_pool = None
    events._clients.clear()
