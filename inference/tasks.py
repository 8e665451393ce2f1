"""Celery tasks: thin wrappers over ``inference.jobs`` and ``inference.uploads``.

The senders (``job_enqueue``, the upload build's enqueue) name these tasks
(``RUN_JOB``, ``BUILD_UPLOADED_MODEL``) and never import this module; it is
registered in every process by ``InferenceConfig.ready``.
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from . import jobs
from .jobs.routing import job_route_read
from .runtime import batching
from .uploads import build as upload_build
from .uploads.services import BUILD_UPLOADED_MODEL


@shared_task(name=jobs.RUN_JOB, bind=True, acks_late=True, reject_on_worker_lost=True)
def run_job(self, job_id: str, route: list | None = None) -> None:
    """Run one job, batched with concurrent jobs of its model and kind; the outcome is written to its row.

    ``route`` is ``[model key, task kind, batch key, streaming, cost]``, sent with the
    message so the worker can batch the job without reading its row first
    (messages without it, from older senders, are routed by reading the row).
    Returns (and the message is acknowledged) only once the job's outcome is
    recorded. Transient failures re-queue the job (bounded by
    ``JOB_MAX_ATTEMPTS``); a worker that dies mid-job leaves it to ``sweep_jobs``.
    """
    _run_routed(self, [[job_id, route]])


@shared_task(name=jobs.RUN_JOBS, bind=True, acks_late=True, reject_on_worker_lost=True)
def run_jobs(self, items: list) -> None:
    """Run several jobs sent together (``[[job id, route], ...]``: one web process's submissions of a
    moment, for one queue), each batched with concurrent jobs of its model and kind, as ``run_job`` does.

    Returns (and the message is acknowledged) once every job's outcome is recorded. A database that
    stays away sends the message again (the claim skips the jobs already run); a worker that dies
    mid-way leaves its jobs to ``sweep_jobs``.
    """
    _run_routed(self, items)


def _run_routed(task, items: list) -> None:
    """Run a message's jobs ``[job id, route]`` through the batchers; a job without a route (an older
    sender's message) is routed by reading its row, and one no longer queued is skipped."""
    try:
        routed = []
        for job_id, route in items:
            if route is None or len(route) != 5:
                route = job_route_read(job_id=job_id)
                if route is None:  # not queued (a duplicate delivery, a cancelled job): nothing to run
                    continue
            routed.append((job_id, route))
        batching.jobs_run_batched(items=routed, run_one=jobs.job_run, run_batch=jobs.jobs_run,
                                  resend=jobs.jobs_resend)
    except jobs.DB_ERRORS as exc:
        # The database stayed away through the claim's own retries: the message is sent again (the
        # claim makes that harmless); a job claimed but not recorded is found by its stale heartbeat.
        raise task.retry(exc=exc, countdown=2, max_retries=settings.JOB_DB_RETRIES) from exc


@shared_task(name="inference.tasks.sweep_jobs", acks_late=True)
def sweep_jobs() -> dict[str, int]:
    """Re-queue or fail jobs whose worker died; fail jobs no worker took."""
    return jobs.jobs_sweep()


@shared_task(name="inference.tasks.purge_job_data", acks_late=True)
def purge_job_data() -> int:
    """Delete the input and result of jobs that ended longer ago than ``JOB_DATA_RETENTION_DAYS``."""
    return jobs.jobs_purge_data()


@shared_task(name="inference.tasks.sweep_model_builds", acks_late=True)
def sweep_model_builds() -> dict[str, int]:
    """Build again, re-send or fail uploaded-model builds whose worker or message was lost."""
    return upload_build.model_builds_sweep()


@shared_task(name=BUILD_UPLOADED_MODEL, acks_late=True, reject_on_worker_lost=True,
             soft_time_limit=settings.UPLOAD_BUILD_SOFT_TIME_LIMIT_S,
             time_limit=settings.UPLOAD_BUILD_HARD_TIME_LIMIT_S)
def build_uploaded_model(version_id: int) -> None:
    """Unpack, check and try one uploaded model version; the outcome is written to its row.

    Runs on the ``fp.model.uploads`` queue, never in the web process. A second delivery of the
    message while the build runs (a build outlasting the broker's visibility timeout) is skipped
    by the build's claim; a worker that dies mid-build leaves it to ``sweep_model_builds``.
    """
    upload_build.model_upload_build(version_id=version_id)
