"""Redis frozen (SIGSTOP) for 15 s, then resumed: calls answer 503 JSON within Redis's socket timeout,
none hangs; afterwards everything accepted ends."""

from __future__ import annotations

import time

from ..core import Context, Outcome, Scenario


class RedisFreeze(Scenario):
    name = "redis-freeze"
    title = "Redis SIGSTOP for 15 s, then SIGCONT"

    def run(self, ctx: Context) -> Outcome:
        frozen_s = 60 if ctx.long else 15
        fault_at = time.time()
        ctx.stack.redis.freeze()
        try:
            time.sleep(frozen_s)
        finally:
            ctx.stack.redis.thaw()
        restored = time.time()
        during = [call for call in ctx.load.snapshot() if fault_at + 1 <= call.started <= restored - 5]
        slowest = max((call.seconds for call in during), default=0.0)
        clean = [call for call in during if call.status == 503 and call.json]
        return Outcome(fault_at=fault_at, restored_at=restored,
                       notes=[f"{len(during)} calls while frozen: {len(clean)} answered 503 JSON, slowest "
                              f"{slowest:.1f} s"],
                       checks=[(len(clean) > 0, "calls while Redis was frozen answered 503 JSON"),
                               (slowest < 20, f"no call while frozen took 20 s or more ({slowest:.1f} s)")])
