"""The web server holds a bounded number of PostgreSQL connections however many requests it serves.

Found by ``make load``: under ASGI each request's sync code (DRF views, sessions) runs on a thread of its
own, and with persistent connections (CONN_MAX_AGE) each such thread left its connection open after it
ended: 190 backends after 2 minutes of load, past PostgreSQL's default max_connections of 100. The web
server now takes them from a pool (config/asgi.py, DATABASE_POOL).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.db import connection

from dashboard.services import api_key_create
from inference.models import InferenceJob

pytestmark = pytest.mark.django_db(transaction=True)

REQUESTS = 400


def backends() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return cursor.fetchone()[0]


def test_many_requests_leave_a_bounded_number_of_database_connections(user):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only (SQLite has no server connections); CI runs the suite on PostgreSQL")
    from tests.api.conftest import LiveServer

    key = api_key_create(user=user, name="connections").plaintext
    job = InferenceJob.objects.create(owner=user, task_kind="emotion", model_id="tiny-emotion", input={"text": "x"})
    before = backends()
    server = LiveServer(name="uvicorn-db-connections")
    try:
        session_urls = [f"{server.url}/api/jobs/{job.id}"] * REQUESTS

        def fetch(url: str) -> int:
            return requests.get(url, headers={"x-api-key": key}, timeout=30).status_code

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(fetch, session_urls))
        assert statuses == [200] * REQUESTS
        opened = backends() - before
    finally:
        server.stop()
    assert opened <= 22, f"{opened} connections left open by one web process after {REQUESTS} requests"
