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
