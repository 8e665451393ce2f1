"""The embedded SQLite backend (config/sqlite): writers queue on a file lock instead of SQLite's busy sleeps."""

from __future__ import annotations

import threading

import pytest
from django.db import OperationalError, connection, connections, transaction

from config.sqlite.base import WriteLock
from inference.models import InferenceJob


def test_a_second_writer_waits_for_the_first_then_gets_the_lock(tmp_path):
    first, second = WriteLock(str(tmp_path / "db.writelock"), 5), WriteLock(str(tmp_path / "db.writelock"), 5)
    order: list[str] = []
    first.acquire()
    waiter = threading.Thread(target=lambda: (second.acquire(), order.append("second has it")))
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive() and order == []  # still waiting while the first holds it
    order.append("first released")
    first.release()
    waiter.join(5)
    assert order == ["first released", "second has it"]
    second.close()
    first.close()


def test_a_writer_that_waits_past_its_timeout_fails_like_sqlite(tmp_path):
    first, second = WriteLock(str(tmp_path / "db.writelock"), 5), WriteLock(str(tmp_path / "db.writelock"), 0.1)
    first.acquire()
    with pytest.raises(OperationalError, match="database is locked"):
        second.acquire()
    first.release()
    second.acquire()  # free again
    assert second.held
    second.close()
    first.close()


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_on_the_embedded_database_all_land(user):
    if connection.vendor != "sqlite":
        pytest.skip("the embedded SQLite backend only")
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(40):
                with transaction.atomic():
                    InferenceJob.objects.create(owner=user, task_kind="emotion", model_id="tiny-emotion",
                                                input={"text": f"{n}-{i}"})
                InferenceJob.objects.filter(input__text=f"{n}-{i}").update(attempts=1)  # a write outside a transaction
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert InferenceJob.objects.filter(attempts=1).count() == 160
