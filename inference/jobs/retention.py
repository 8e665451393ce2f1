"""Keeping users' data no longer than needed: the input and result of a finished job are deleted
``JOB_DATA_RETENTION_DAYS`` after it ended.

The row stays (status, times, compute used), so usage and the monthly
allowance do not change; its ``data_purged_at`` says when the data went.
Images travel as data URIs of up to 8 MB in a job's input, so without this a
busy server's database grows by gigabytes a day.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ..models import TERMINAL_STATUSES, InferenceJob

PURGE_CHUNK = 500  # rows per UPDATE: a short transaction each, however much is due


def jobs_purge_data() -> int:
    """Delete the input and result of jobs that ended more than the retention period ago; returns how many.

    ``JOB_DATA_RETENTION_DAYS`` 0 keeps everything.
    """
    if settings.JOB_DATA_RETENTION_DAYS <= 0:
        return 0
    now = timezone.now()
    due = InferenceJob.objects.filter(
        data_purged_at__isnull=True, status__in=TERMINAL_STATUSES,
        finished_at__lt=now - timedelta(days=settings.JOB_DATA_RETENTION_DAYS),
    )
    purged = 0
    while ids := list(due.order_by().values_list("id", flat=True)[:PURGE_CHUNK]):
        with transaction.atomic():
            purged += InferenceJob.objects.filter(id__in=ids, data_purged_at__isnull=True).update(
                input={}, output=None, data_purged_at=now)
    return purged
