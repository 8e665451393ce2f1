"""SIGKILL of every worker at once, then the supervisor's restart: requests wait (202, then polling) and
every job accepted meanwhile runs once the workers are back."""

from __future__ import annotations

import time

from ..core import Context, Outcome, Scenario


class AllWorkersKill(Scenario):
    name = "all-workers-kill"
    title = "SIGKILL of every worker at once, then a restart"

    def run(self, ctx: Context) -> Outcome:
        batch = ctx.echo_submit(6, sleep_ms=400)
        ctx.worker_running(batch)
        workers = list(ctx.stack.workers)
        starts = [len(worker.starts) for worker in workers]
        fault_at = time.time()
        for worker in workers:
            worker.kill()
        restored = ctx.restarted(workers, starts)
        ended = ctx.jobs_wait(batch, 90)
        return Outcome(fault_at=fault_at, restored_at=restored,
                       notes=[f"both workers restarted and ready in {restored - fault_at:.1f} s"],
                       checks=[(all(job.status == "succeeded" for job in ended),
                                "every job running when the workers died succeeded on its retry")])
