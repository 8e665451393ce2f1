"""Counting tokens before a job is queued, with the model's own tokenizer.

Only tokenizer files are read (no weights), once per process and model, so the
web process can check token bounds without loading a model. A folder with a
``tokenizer.json`` (every fast tokenizer) is read with the ``tokenizers``
library alone, as transformers' fast tokenizers run it: importing transformers
in the web process imported torch too, several core-seconds on the first
request of each web process after a start (docs/perf/README.md) and hundreds
of megabytes for nothing. Other folders (a slow tokenizer only) go through
transformers. The web process validates requests on several threads at once:
loading is serialised (the first ``transformers`` import is not thread-safe),
and so is each tokenizer (a fast tokenizer used by two threads at once raises
"Already borrowed").
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from pathlib import Path

_loading = threading.Lock()


@functools.lru_cache(maxsize=16)
def _load(path: str, revision: str) -> tuple[Callable[[str], int], threading.Lock] | None:
    folder = Path(path)
    if not folder.is_dir() or not (folder / "tokenizer_config.json").exists():
        return None
    if (folder / "tokenizer.json").is_file():
        from tokenizers import Tokenizer

        try:
            fast = Tokenizer.from_file(str(folder / "tokenizer.json"))
        except Exception:  # noqa: BLE001 - a file the library cannot read: transformers may
            pass
        else:
            # As transformers calls it for a count: whatever truncation or padding the file was saved with
            # (the emotion model's says 64 tokens) does not apply.
            fast.no_truncation()
            fast.no_padding()
            return (lambda text: len(fast.encode(text, add_special_tokens=False).ids)), threading.Lock()
    from transformers import AutoTokenizer  # lazily: a slow tokenizer only (it imports torch)

    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError):
        return None
    return (lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])), threading.Lock()


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
    counted, lock = loaded

    def count(text: str) -> int:
        with lock:
            return counted(text)

    return count
