"""PostgreSQL restarted under load (``pg_ctl restart -m fast``, every connection dropped): requests in the
gap answer 503 JSON, workers retry their claims and outcomes, nothing is lost or run twice."""

from __future__ import annotations

import time

from ..core import Context, Outcome, Scenario


class PostgresRestart(Scenario):
    name = "postgres-restart"
    title = "PostgreSQL restarted under load"

    def run(self, ctx: Context) -> Outcome:
        rounds = 3 if ctx.long else 1
        batch = ctx.echo_submit(6, sleep_ms=500)
        ctx.worker_running(batch)
        fault_at = restored = time.time()
        for round_ in range(rounds):
            if round_:
                time.sleep(10)
            ctx.stack.postgres.restart()
            restored = time.time()
        ended = ctx.jobs_wait(batch, 90)
        return Outcome(fault_at=fault_at, restored_at=restored,
                       notes=[f"restart took {restored - fault_at:.1f} s" if rounds == 1 else f"{rounds} restarts"],
                       checks=[(all(job.status == "succeeded" for job in ended),
                                "every echo job running across the restart succeeded")])
