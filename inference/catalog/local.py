"""Models installed from local folders: the entries of the JSON file named by ``LOCAL_MODELS_FILE``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from .specs import ModelSpec, with_default_kinds

_local: dict[str, ModelSpec] = {}
_local_stamp: tuple[str, float] | None = None


def _located(folder: Path) -> Callable[[], Path]:
    """A model's ``locate``: the folder its entry names."""
    return lambda: folder


def local_models() -> dict[str, ModelSpec]:
    """Models installed from local folders, listed in ``LOCAL_MODELS_FILE`` (JSON).

    Each entry: ``{"id", "name", "family", "kinds": [...], "path", "description", "options"}``.
    Operators use it for models they copied onto the machine; the tests use it
    for tiny models built at test time. Re-read when the file changes.
    """
    global _local, _local_stamp
    path = Path(settings.LOCAL_MODELS_FILE) if settings.LOCAL_MODELS_FILE else None
    if path is None or not path.exists():
        _local, _local_stamp = {}, None
        return _local
    stamp = (str(path), path.stat().st_mtime)
    if stamp != _local_stamp:
        entries = json.loads(path.read_text())
        _local = {}
        for entry in entries:
            folder = Path(entry["path"])
            _local[entry["id"]] = with_default_kinds(ModelSpec(
                id=entry["id"], name=entry.get("name", entry["id"]), family=entry["family"],
                kinds=tuple(entry["kinds"]), description=entry.get("description", "A locally installed model."),
                source="local", locate=_located(folder), options=entry.get("options", {}),
                details=entry.get("details", {}), revision=str(entry.get("revision", "1")),
            ))
        _local_stamp = stamp
    return _local
