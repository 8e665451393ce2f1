"""Counting tokens before a job is queued, with the model's own tokenizer.

Only tokenizer files are read (no weights), once per process and model, so the
web process can check token bounds without loading a model.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

from .catalog import ModelSpec


@functools.lru_cache(maxsize=16)
def _tokenizer(path: str, revision: str):
    from transformers import AutoTokenizer

    folder = Path(path)
    if not folder.is_dir() or not (folder / "tokenizer_config.json").exists():
        return None
    try:
        return AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError):
        return None


def token_counter(spec: ModelSpec) -> Callable[[str], int] | None:
    """A function counting tokens with ``spec``'s tokenizer, or None when it has none on disk."""
    folder = spec.options.get("tokenizer_dir") or spec.path
    if folder is None:
        return None
    if str(folder).endswith(".gguf"):
        # The tokenizer of a GGUF model is in its converted folder, once a worker converted it.
        from django.conf import settings

        from .gguf_cache import gguf_cache_folder

        folder = gguf_cache_folder(Path(folder), Path(settings.MODEL_CACHE_DIR))
    tokenizer = _tokenizer(str(folder), spec.revision)
    if tokenizer is None:
        return None
    return lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])
