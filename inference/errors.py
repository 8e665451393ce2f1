"""The errors a caller is told about: one family, raised by services that know nothing of HTTP.

An ``ApiError`` carries a machine ``code`` (``rate_limited``, ``unknown_model``),
a ``message`` for people, optionally the ``field`` it is about and ``details``
(the problems of each bad field), and, for limits, ``retry_after`` seconds.
Its class says what kind of refusal it is (``category``); the API turns the
category into an HTTP status and the one error body (``api/errors.py``, which
also lists every code). Nothing here imports the rest of the project.
"""

from __future__ import annotations

from typing import ClassVar


class ApiError(Exception):
    """A request refused (or a job that ended badly), as the caller is told it."""

    category: ClassVar[str] = "invalid"

    def __init__(self, code: str, message: str, *, field: str | None = None,
                 details: dict[str, list[str]] | None = None, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        # Each bad field's problems; by default the message, under the field it names.
        self.details = details if details is not None else ({field: [message]} if field else None)
        self.retry_after = retry_after

    @classmethod
    def for_field(cls, code: str, field: str, problem: str, **kwargs) -> ApiError:
        """The error of one field: the message is ``"<field>: <problem>"``, the details the problem alone."""
        return cls(code, f"{field}: {problem}", field=field, details={field: [problem]}, **kwargs)

    @property
    def problem(self) -> str:
        """What is wrong with ``field`` alone (for a form that shows it beside the field)."""
        if self.field and self.details and self.details.get(self.field):
            return self.details[self.field][0]
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r})"


class InvalidInput(ApiError):
    """The request breaks a rule: a bad or missing field, a body that does not parse."""

    category = "invalid"


class Unauthenticated(ApiError):
    """No valid credentials."""

    category = "unauthenticated"


class Forbidden(ApiError):
    """Understood and authenticated, but not allowed (a missing CSRF token, a spent storage quota)."""

    category = "forbidden"


class NotFound(ApiError):
    """No such thing (a model, a task kind), or not the caller's."""

    category = "not_found"


class Conflict(ApiError):
    """The thing exists but is not in a state to serve (a model not installed, a job cancelled)."""

    category = "conflict"


class TooLarge(ApiError):
    """A body, a file or an image over its limit."""

    category = "too_large"


class UnsupportedMediaType(ApiError):
    """A body in a format the API does not read."""

    category = "unsupported_media_type"


class JobFailed(ApiError):
    """The job ran and failed: the input was well-formed, the model could not use it."""

    category = "failed"


class LimitReached(ApiError):
    """A per-caller limit (rate, jobs at once, monthly allowance); ``retry_after`` says when to try again."""

    category = "limited"


class Unavailable(ApiError):
    """The service cannot take the request now (a full queue, Redis not answering); retry later."""

    category = "unavailable"
