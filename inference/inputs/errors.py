"""The error every input check raises, from a kind's own rules down to an image's pixels."""

from __future__ import annotations


class InputError(ValueError):
    """An input that breaks the declaration; names the field and the bound."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message
