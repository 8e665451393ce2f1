"""A burst at twice the per-user in-flight cap (``API_MAX_JOBS_IN_FLIGHT``): the excess gets 429 with
``Retry-After``, nothing 5xx, and every job accepted ends."""

from __future__ import annotations

import asyncio
import time

from django.conf import settings

from ..core import Context, Outcome, Scenario
from ..load import burst


class Burst(Scenario):
    name = "burst"
    title = "a burst at twice the per-user in-flight cap"

    def run(self, ctx: Context) -> Outcome:
        cap = settings.API_MAX_JOBS_IN_FLIGHT
        fault_at = time.time()
        calls = []
        for _ in range(3 if ctx.long else 1):
            calls += asyncio.run(burst(ctx.stack.base_url, ctx.burst_key, 2 * cap, texts_per_job=32))
        restored = time.time()
        refused = [call for call in calls if call.status == 429]
        accepted = [call for call in calls if call.status == 202]
        return Outcome(fault_at=fault_at, restored_at=restored, extra_calls=calls,
                       notes=[f"{len(calls)} burst calls (cap {cap}): {len(accepted)} accepted, {len(refused)} 429"],
                       checks=[(len(refused) > 0, "the burst past the cap got 429s"),
                               (all(call.retry_after for call in refused), "every 429 had Retry-After"),
                               (len(accepted) >= cap // 2, "the burst had jobs accepted up to the cap")])
