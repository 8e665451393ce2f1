"""When a running batch should stop early: cancelled, past its deadline, or the worker is stopping.

The executor (``inference.jobs.execute``) sets :data:`stop_check` around
each ``kind.run``; every generation (``GenerativeBackend._run``, whatever
operation calls it) and every other long step (the echo kind's pause) asks it
between tokens, so cancellation and deadlines work for every job, batched or
not, without each task kind passing a callback down.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

# A callable answering True when the batch running in this thread should stop; None outside a job.
stop_check: ContextVar[Callable[[], bool] | None] = ContextVar("stop_check", default=None)


def should_stop() -> bool:
    check = stop_check.get()
    return check is not None and check()
