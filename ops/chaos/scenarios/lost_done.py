"""Lost "done" messages: the web processes' pub/sub connections are killed (``CLIENT KILL TYPE pubsub``)
every 0.3 s, so messages published meanwhile reach nobody. Waiting requests still answer, from the row."""

from __future__ import annotations

import time

from ..core import Context, Outcome, Scenario


class LostDoneMessage(Scenario):
    name = "lost-done"
    title = "lost \"done\" messages (pub/sub connections dropped)"

    def run(self, ctx: Context) -> Outcome:
        client = ctx.stack.redis.client(2.0)
        fault_at = time.time()
        killed = 0
        until = fault_at + ctx.scale(10)
        while time.time() < until:
            killed += int(client.client_kill_filter(_type="pubsub") or 0)
            time.sleep(0.3)
        restored = time.time()
        client.close()
        during = [call for call in ctx.load.snapshot()
                  if fault_at <= call.started <= restored and call.endpoint == "POST /api/emotion"]
        answered = [call for call in during if call.status == 200]
        from_row = [call for call in answered if call.seconds >= 4.5]  # after the 5 s quiet check
        return Outcome(fault_at=fault_at, restored_at=restored,
                       notes=[f"{killed} pub/sub connections killed; {len(answered)} of {len(during)} calls "
                              f"answered 200, {len(from_row)} of them from the row after a lost message"],
                       checks=[(len(answered) > 0, "calls were answered while messages were lost")])
