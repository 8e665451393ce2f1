"""Counting tokens before a job is queued, with the model's own tokenizer.

Only tokenizer files are read (no weights), once per process and model, so the
web process can check token bounds without loading a model. The web process
validates requests on several threads at once: loading is serialised (the
first ``transformers`` import is not thread-safe), and so is each tokenizer
(a fast tokenizer used by two threads at once raises "Already borrowed").
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from pathlib import Path

_loading = threading.Lock()


@functools.lru_cache(maxsize=16)
def _load(path: str, revision: str):
    from transformers import AutoTokenizer  # lazily: the web process imports transformers only to count tokens

    folder = Path(path)
    if not folder.is_dir() or not (folder / "tokenizer_config.json").exists():
        return None
    try:
        return AutoTokenizer.from_pretrained(folder, local_files_only=True), threading.Lock()
    except (OSError, ValueError):
        return None


def _tokenizer(path: str, revision: str):
    """(tokenizer, its lock), or None when the folder has no tokenizer."""
    with _loading:
        return _load(path, revision)


def token_counter(folder: Path | None, revision: str) -> Callable[[str], int] | None:
    """A function counting tokens with the tokenizer in ``folder`` (a model's ``ModelSpec.tokenizer_folder``,
    at its ``revision``), or None when there is none on disk."""
    if folder is None:
        return None
    loaded = _tokenizer(str(folder), revision)
    if loaded is None:
        return None
    tokenizer, lock = loaded

    def count(text: str) -> int:
        with lock:
            return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    return count
