"""Where a GGUF file's one-off conversion to a transformers folder is cached.

Kept free of torch so the web process can find the converted tokenizer (to
count tokens before queueing) without importing a model library.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

# Bump when the conversion changes, so stale cached folders are not reused.
GGUF_CONVERSION_VERSION = 1


def gguf_cache_folder(gguf_path: Path, cache_dir: Path) -> Path:
    """The cache folder for ``gguf_path``: keyed by its name, size, mtime and the conversion version."""
    stat = gguf_path.stat()
    key = f"{gguf_path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\0{GGUF_CONVERSION_VERSION}"
    return cache_dir / "gguf" / f"{gguf_path.stem}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"
