"""kill -9 of Redis under load, then a restart from its append-only file: requests meanwhile answer 503
JSON; jobs queued before the kill run after it (from the AOF, or re-sent by the sweeper)."""

from __future__ import annotations

import time

from ..core import Context, Outcome, Scenario


class RedisKill(Scenario):
    name = "redis-kill"
    title = "kill -9 of Redis under load, restart from its AOF"

    def run(self, ctx: Context) -> Outcome:
        queued = ctx.echo_submit(6, sleep_ms=300)
        fault_at = time.time()
        ctx.stack.redis.kill()
        time.sleep(ctx.scale(3))
        ctx.stack.redis.start()
        restored = time.time()
        ended = ctx.jobs_wait(queued, 90)
        return Outcome(fault_at=fault_at, restored_at=restored,
                       notes=[f"Redis down {restored - fault_at:.1f} s"],
                       checks=[(all(job.status == "succeeded" for job in ended),
                                "every echo job queued just before the kill succeeded")])
