"""The entry point of the inference layer: which task kinds and model families exist.

- ``KINDS``: every task kind, from ``inference/kinds/<kind>.py``.
- ``FAMILIES``: every model family (how a model is loaded), from
  ``inference/backends/<family>.py``, imported only when a worker loads one.
- The catalog of models lives in ``inference/catalog.py``.

Adding a task kind: write its file, add it to ``_KIND_CLASSES`` (see CONTRIBUTING.md).
"""

from __future__ import annotations

from importlib import import_module

from .kinds.base import TaskKind
from .kinds.echo import Echo

_KIND_CLASSES: tuple[type[TaskKind], ...] = (Echo,)

KINDS: dict[str, TaskKind] = {cls.name: cls() for cls in _KIND_CLASSES}

# family -> "module:Class"; imported lazily so the web process never imports torch models.
FAMILIES: dict[str, str] = {
    "echo": "inference.backends.echo:EchoBackend",
}


def kind_get(name: str) -> TaskKind | None:
    return KINDS.get(name)


def public_kinds() -> list[TaskKind]:
    """The task kinds offered to users, in declaration order."""
    return [kind for kind in KINDS.values() if not kind.internal]


def backend_class(family: str):
    """The Backend subclass of a model family."""
    module_name, _, class_name = FAMILIES[family].partition(":")
    return getattr(import_module(module_name), class_name)
