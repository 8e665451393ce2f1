"""Celery tasks: thin wrappers over ``inference.services``."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="inference.tasks.run_job", acks_late=True, reject_on_worker_lost=True)
def run_job(job_id: str) -> None:
    """Claim and run one job; the outcome is written to its row.

    Transient failures re-queue the job (bounded by ``JOB_MAX_ATTEMPTS``);
    a worker that dies mid-job leaves it to ``sweep_jobs``.
    """
    services.job_run(job_id=job_id)


@shared_task(name="inference.tasks.sweep_jobs", acks_late=True)
def sweep_jobs() -> dict[str, int]:
    """Re-queue or fail jobs whose worker died; fail jobs no worker took."""
    return services.jobs_sweep()
