"""SIGKILL of one worker in the middle of a batch: the batch's jobs are retried and succeed on the other
worker or on the restarted one; the steady load never notices more than a slower answer."""

from __future__ import annotations

import os
import signal
import time

from ..core import Context, Outcome, Scenario


class WorkerKillMidBatch(Scenario):
    name = "worker-kill"
    title = "SIGKILL of a worker in the middle of a batch"

    def run(self, ctx: Context) -> Outcome:
        rounds = 3 if ctx.long else 1
        checks, notes = [], []
        fault_at = restored = time.time()
        for round_ in range(rounds):
            batch = ctx.echo_submit(8, sleep_ms=400)  # one batch of ~3 s on one worker
            pid = ctx.worker_running(batch)
            checks.append((pid is not None, "the echo batch started on a worker"))
            if pid is None:
                break
            time.sleep(0.5)  # mid-batch
            worker = ctx.worker_of(pid)
            starts = len(worker.starts)
            if round_ == 0:
                fault_at = time.time()
            os.kill(pid, signal.SIGKILL)
            restored = ctx.restarted([worker], [starts])
            ended = ctx.jobs_wait(batch, 90)
            notes.append(f"killed {worker.name} (pid {pid}); restarted and ready in {restored - fault_at:.1f} s")
            checks.append((all(job.status == "succeeded" for job in ended),
                           "every job of the killed batch succeeded on its retry"))
            checks.append((any(job.attempts >= 2 for job in ended), "the killed batch's jobs were retried"))
        return Outcome(fault_at=fault_at, restored_at=restored, checks=checks, notes=notes)
