"""The id of the request being answered (``X-Request-Id``), for error bodies and logs, and its path
(which API's error shape it gets: Backprop's under /api/, OpenAI's under /v1/)."""

from __future__ import annotations

import contextvars

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


def current_request_id() -> str:
    return request_id_var.get()


request_path_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_path", default="")


def current_path() -> str:
    return request_path_var.get()
