"""The model behind the internal echo task kind: no weights, returns its input."""

from __future__ import annotations

from typing import ClassVar

from .base import Backend, LoadTarget


class EchoBackend(Backend):
    family: ClassVar[str] = "echo"
    operations: ClassVar[frozenset[str]] = frozenset({"echo"})

    @classmethod
    def load(cls, target: LoadTarget) -> EchoBackend:
        return cls(target)

    def echo(self, text: str) -> str:
        return text
