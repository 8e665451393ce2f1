"""A poison job: an echo job with ``crash`` (only with ``ECHO_CRASH_ENABLED``) kills the process running it in
the middle of its forward pass, on every attempt. The first time that is its worker; a retried job runs alone in
a child process of its worker (``inference.jobs.quarantine``), so later attempts kill only that child. It fails
with a reason after ``JOB_MAX_ATTEMPTS``; the jobs that were batched with it, or in flight in its worker, succeed."""

from __future__ import annotations

import time

from django.conf import settings
from django.db import transaction

from ..accounting import runs_read
from ..core import Context, Outcome, Scenario


class PoisonJob(Scenario):
    name = "poison-job"
    title = "a job whose forward pass kills its worker"
    drain_s = 180.0

    def run(self, ctx: Context) -> Outcome:
        fault_at = time.time()
        # One transaction: the jobs' messages leave together at its commit, so each worker gathers those it
        # received into one batch, and the poison job shares its batch with innocents. (Submitted one by one,
        # the innocents could fill a batch of their own before the poison job arrived, alone.)
        with transaction.atomic():
            innocents = ctx.echo_submit(6, sleep_ms=300)
            [poison] = ctx.echo_submit(1, crash=True)
            innocents += ctx.echo_submit(6, sleep_ms=300)
        jobs = ctx.jobs_wait([*innocents, poison], 240)
        restored = time.time()
        by_id = {str(job.id): job for job in jobs}
        poison = by_id[str(poison.id)]
        runs = runs_read(ctx.stack.run_log)
        first = min(runs.get(str(poison.id), []), key=lambda run: run.start, default=None)
        mates = [job for job in jobs if job.id != poison.id and first is not None and any(
            run.pid == first.pid and abs(run.start - first.start) < 0.001 for run in runs.get(str(job.id), []))]
        deaths = [d for d in ctx.stack.supervisor.deaths if d[2] >= fault_at]
        attempts = settings.JOB_MAX_ATTEMPTS
        return Outcome(
            fault_at=fault_at, restored_at=restored,
            notes=[f"poison: {poison.status} after {poison.attempts} attempts ({poison.error[:90]}); "
                   f"{len(mates)} jobs were batched with it; {len(deaths)} worker deaths"],
            checks=[(poison.status == "failed" and f"after {attempts} attempts" in poison.error,
                     f"the poison job failed with a reason after {attempts} attempts"),
                    (len(mates) >= 1, "the poison job was batched with other jobs (the case under test)"),
                    (all(job.status == "succeeded" for job in jobs if job.id != poison.id),
                     "every job batched with the poison job succeeded"),
                    (len(deaths) == 1, "the poison job killed its worker once (its retries ran in a child process)")])
