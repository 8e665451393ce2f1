"""echo: an internal task kind that returns its text, optionally after a pause.

It exercises the job pipeline (queue, worker, claims, retries, the sweeper)
without a model. It is not offered to users: the API and the sandbox hide it.
With ``ECHO_CRASH_ENABLED`` (fault testing only, ``make chaos``) an input with
``"crash": true`` kills its worker process in the middle of the forward pass:
a poison job.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Sequence
from typing import Any

from django.conf import settings

from inference.kinds.stopping import should_stop

from .base import BOOLEAN, INTEGER, STRING, InputError, ItemResult, Param, TaskKind
from .operations import Echoes


class Echo(TaskKind[Echoes]):
    name = "echo"
    title = "Echo (internal)"
    description = "Returns its text after sleep_ms milliseconds. For tests and health checks."
    internal = True
    operation = "echo"
    renderer = "json"
    default_model = "echo"
    params = (
        Param("text", STRING, "Text to return.", max_chars=1000),
        Param("sleep_ms", INTEGER, "Pause before answering.", default=0, minimum=0, maximum=600_000),
        Param("fail", STRING, "If set, the job fails with this message.", default="", max_chars=200),
        Param("crash", BOOLEAN, "Kill the worker process mid-run (only with ECHO_CRASH_ENABLED).", default=False),
    )
    example = {"text": "hello"}
    response_schema = {"type": "object", "properties": {"output": {"type": "string"}}}
    response_example = {"output": "hello"}

    def check(self, cleaned: dict[str, Any], given: set[str]) -> None:
        if cleaned["crash"] and not settings.ECHO_CRASH_ENABLED:
            raise InputError("crash", "only for fault testing (ECHO_CRASH_ENABLED is off)")

    def forward(self, backend: Echoes, items: list[dict[str, Any]], **context: Any) -> Sequence[Any]:
        results: list[Any] = []
        for item in items:
            if item["sleep_ms"]:
                until = time.monotonic() + item["sleep_ms"] / 1000
                while time.monotonic() < until and not should_stop():  # stops like a generation would
                    time.sleep(min(0.02, max(0.0, until - time.monotonic())))
            if item.get("crash") and settings.ECHO_CRASH_ENABLED:  # checked here too: the worker's own setting
                os.kill(os.getpid(), signal.SIGKILL)
            results.append(ItemResult(error=item["fail"]) if item["fail"] else {"output": backend.echo(item["text"])})
        return results
