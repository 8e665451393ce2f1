"""Submissions that arrive together are accepted together: one trip to the pool, one transaction.

A task request's submission is database and Redis work: DRF's checks, the rate
limit, the caller's limits, the insert and its commit, the Celery message. Made
one by one, each request paid for its own thread hop, transaction, commit and
message, and at 32 clients they queued for SQLite's write lock. Here the
submissions of one event loop (one web process) are gathered: while one batch is
being accepted on the pool, the requests that arrive wait, and the next batch
takes all of them. A request alone is accepted at once (no window, no timer), so
a single client pays nothing; under load the batches fill themselves.

``Coalescer.submit`` hands an item to the batch function given to the
coalescer (``api.task_views.jobs_accept``) and returns that item's own
outcome: its job, or the exception refusing it, raised in the request that
sent it, as if it had been submitted alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from .waiting import run_sync

Item = TypeVar("Item")

# How many items one batch takes at most: the rest wait for the next (a bound on one transaction).
MAX_BATCH = 64


class Coalescer(Generic[Item]):
    """Gathers the items of one event loop and runs ``accept`` on the pool for each batch of them.

    ``accept(items)`` returns one outcome per item, in order: a result, or an exception for that item.
    """

    def __init__(self, accept: Callable[[Sequence[Item]], Sequence[Any]]) -> None:
        self.accept = accept
        self.pending: list[tuple[Item, asyncio.Future]] = []
        self.flushing = False

    async def submit(self, item: Item) -> Any:
        """``item``'s outcome once its batch was accepted (its exception raised here)."""
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self.pending.append((item, future))
        if not self.flushing:
            self.flushing = True
            asyncio.get_running_loop().create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        accept = run_sync(self.accept)
        try:
            while self.pending:
                batch, self.pending = self.pending[:MAX_BATCH], self.pending[MAX_BATCH:]
                try:
                    outcomes = await accept([item for item, _ in batch])
                except BaseException as exc:  # the whole batch failed (a database down): each request hears it
                    outcomes = [exc] * len(batch)
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if future.done():  # its request went away
                        continue
                    if isinstance(outcome, BaseException):
                        future.set_exception(outcome)
                    else:
                        future.set_result(outcome)
        finally:
            self.flushing = False


class LoopCoalescers(Generic[Item]):
    """One ``Coalescer`` per event loop (a web process runs one; Django's test client one per request)."""

    def __init__(self, accept: Callable[[Sequence[Item]], Sequence[Any]]) -> None:
        self.accept = accept
        self.by_loop: dict[int, tuple[asyncio.AbstractEventLoop, Coalescer[Item]]] = {}

    def get(self) -> Coalescer[Item]:
        loop = asyncio.get_running_loop()
        found = self.by_loop.get(id(loop))
        if found is None or found[0] is not loop:
            for key, (old, _) in list(self.by_loop.items()):  # loops that ended
                if old.is_closed():
                    del self.by_loop[key]
            found = self.by_loop[id(loop)] = (loop, Coalescer(self.accept))
        return found[1]

    async def submit(self, item: Item) -> Any:
        return await self.get().submit(item)
