"""The statements every job passes through, written once as SQL.

Django's compiler builds a query anew at every call, and for the few statements
each job runs, building cost more than running: a claim's UPDATE and its SELECT
of the claimed rows took 1.09 core-ms through the ORM and 0.26 as SQL (one job,
SQLite; docs/perf/README.md); the in-flight count, with its OR, about 0.4 of a
submission's 1.6. Values go through the fields' own conversions
(``get_db_prep_value``, ``pre_save``) and rows come back as model instances
through the same converters a query's rows go through (``_jobs_from_rows``), so
SQLite and PostgreSQL store and read what the ORM would. The outcomes' UPDATE
is in ``outcomes`` (``_rows_update``), for the same reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db import connection

from ..models import ACTIVE_STATUSES, InferenceJob, JobStatus


def _table() -> str:
    return connection.ops.quote_name(InferenceJob._meta.db_table)


def _column(name: str) -> str:
    return connection.ops.quote_name(InferenceJob._meta.get_field(name).column)


def _ids(job_ids: Sequence[UUID | str]) -> list[Any]:
    field = InferenceJob._meta.get_field("id")
    return [field.get_db_prep_value(field.to_python(job_id), connection) for job_id in job_ids]


def _time(value: datetime) -> Any:
    return InferenceJob._meta.get_field("started_at").get_db_prep_value(value, connection)


def _marks(count: int) -> str:
    return ", ".join(["%s"] * count)


def _all_columns() -> tuple[list[Any], str]:
    """Every column of a job row: its fields, and their quoted names for a column list."""
    fields = list(InferenceJob._meta.concrete_fields)
    return fields, ", ".join(connection.ops.quote_name(field.column) for field in fields)


def jobs_claim_rows(*, job_ids: Sequence[UUID | str], now: datetime) -> list[InferenceJob]:
    """Move the queued jobs among ``job_ids`` to running (``now`` their start and heartbeat, one more attempt)
    with one conditional UPDATE, which returns the rows this claim took (``RETURNING``: SQLite 3.35+ and
    PostgreSQL; the separate read-back and Django's ``raw()`` cost a single job 0.3 ms)."""
    if not job_ids:
        return []
    ids, stamp = _ids(job_ids), _time(now)
    status, started = _column("status"), _column("started_at")
    fields, returned = _all_columns()
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_table()} SET {status} = %s, {started} = %s, {_column('heartbeat_at')} = %s, "
            f"{_column('attempts')} = {_column('attempts')} + 1 "
            f"WHERE {_column('id')} IN ({_marks(len(ids))}) AND {status} = %s RETURNING {returned}",
            [JobStatus.RUNNING.value, stamp, stamp, *ids, JobStatus.QUEUED.value])
        rows = cursor.fetchall()
    return _jobs_from_rows(fields, rows)


def _jobs_from_rows(fields: list[Any], rows: Sequence[Sequence[Any]]) -> list[InferenceJob]:
    """Jobs from the database's values of ``fields``, converted as a query's rows are (the backend's
    converters, then the field's own: dates, UUIDs, JSON)."""
    columns = [field.get_col(InferenceJob._meta.db_table) for field in fields]
    converters = [(*connection.ops.get_db_converters(column), *column.get_db_converters(connection))
                  for column in columns]
    names = [field.attname for field in fields]
    jobs = []
    for row in rows:
        values = []
        for column, convert_all, value in zip(columns, converters, row, strict=True):
            for convert in convert_all:
                value = convert(value, column, connection)
            values.append(value)
        jobs.append(InferenceJob.from_db(connection.alias, names, values))
    return jobs


def jobs_in_flight_counts(*, owner_ids: Sequence[Any], stale_before: datetime) -> dict[Any, int]:
    """For each owner, their jobs that hold a worker or a place in a queue: queued, running, and cancelled
    while running until their worker lets go of them (while its heartbeat is fresh, after ``stale_before``).

    The plain ``status IN (...)`` beside the OR lets the database seek the (owner, status) index; with the
    OR alone SQLite read every job the user ever had (1.8 ms a request at 900 jobs, growing).
    """
    counts = {owner_id: 0 for owner_id in owner_ids}
    if not owner_ids:
        return counts
    owner, status = _column("owner"), _column("status")
    active = [status_.value for status_ in ACTIVE_STATUSES]
    cancelled = JobStatus.CANCELLED.value
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {owner}, COUNT(*) FROM {_table()} WHERE {owner} IN ({_marks(len(owner_ids))}) "
            f"AND {status} IN ({_marks(len(active) + 1)}) AND ({status} IN ({_marks(len(active))}) OR "
            f"({status} = %s AND {_column('started_at')} IS NOT NULL AND {_column('released_at')} IS NULL "
            f"AND {_column('heartbeat_at')} >= %s)) GROUP BY {owner}",
            [*owner_ids, *active, cancelled, *active, cancelled, _time(stale_before)])
        for owner_id, count in cursor.fetchall():
            counts[owner_id] = count
    return counts


def jobs_queued_count(*, model_key: str) -> int:
    """The jobs of one exact model (``InferenceJob.model_key``) that wait for a worker."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {_table()} WHERE {_column('model_key')} = %s AND "
                       f"{_column('status')} = %s", [model_key, JobStatus.QUEUED.value])
        return int(cursor.fetchone()[0])


def jobs_insert(jobs: Sequence[InferenceJob]) -> None:
    """Insert new job rows as ``bulk_create`` would (each field's ``pre_save`` and database value), with
    one statement built once for all of them: building ``bulk_create``'s INSERT cost a submission 0.5 ms."""
    if not jobs:
        return
    fields, columns = _all_columns()
    rows = [[field.get_db_prep_save(field.pre_save(job, True), connection) for field in fields] for job in jobs]
    with connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {_table()} ({columns}) VALUES ({_marks(len(fields))})", rows)
    for job in jobs:
        job._state.adding = False
        job._state.db = connection.alias
