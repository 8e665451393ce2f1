"""GGUF files for the ``causal-lm`` family: read once, converted into a cached transformers folder.

transformers dequantises GGUF on every load (about 20 s for SmolLM2-135M), so
the first load converts the file into a safetensors folder under the model
cache (``inference/backends/gguf_cache.py`` names it) and later loads read that.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from inference.backends.base import BackendError, LoadTarget
from inference.backends.gguf_cache import gguf_cache_folder


def gguf_source(target: LoadTarget) -> Path | None:
    """The GGUF file ``target`` names, if any."""
    name = target.options.get("gguf_file")
    if name:
        path = Path(name)
        return path if path.is_absolute() else target.path / path
    if target.path.suffix.lower() == ".gguf" and target.path.is_file():
        return target.path
    return None


def _repair_gguf_tokenizer(tokenizer: PreTrainedTokenizerBase, gguf_path: Path) -> None:
    """Fix what transformers' GGUF tokenizer conversion gets wrong, from the file's metadata.

    transformers 4.57 sets eos to the bos token, always adds bos and cleans up
    spaces that a byte-level BPE decodes exactly; SmolLM2's "smollm"
    pre-tokenizer also splits digits one by one.
    """
    # GGUF's own packages only when a GGUF file is read (a missing one fails that load only).
    from gguf import GGUFReader
    from tokenizers import pre_tokenizers

    fields = GGUFReader(gguf_path).fields

    def value(key: str) -> Any:
        field = fields.get(f"tokenizer.ggml.{key}")
        return None if field is None else field.contents()

    for role in ("bos", "eos", "pad"):
        token_id = value(f"{role}_token_id" if role != "pad" else "padding_token_id")
        if token_id is not None:
            setattr(
                tokenizer,
                f"{role}_token",
                tokenizer.convert_ids_to_tokens(int(token_id)),
            )
    for flag in ("add_bos_token", "add_eos_token"):
        if value(flag) is not None and hasattr(tokenizer, flag):
            setattr(tokenizer, flag, bool(value(flag)))
    if value("model") == "gpt2":  # byte-level BPE
        tokenizer.clean_up_tokenization_spaces = False
    if value("pre") == "smollm":
        tokenizer.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Digits(individual_digits=True),
                pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
            ]
        )


def load_gguf(gguf_path: Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    folder, name = gguf_path.parent, gguf_path.name
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32, local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise BackendError(f"cannot read the GGUF file {name}: {exc}") from exc
    _repair_gguf_tokenizer(tokenizer, gguf_path)
    return model, tokenizer


def converted_gguf_folder(gguf_path: Path, cache_dir: Path) -> Path:
    """A transformers folder holding ``gguf_path`` dequantised, converting it on first use.

    The folder name hashes the file's name, size and mtime (and the
    conversion version), so a replaced file is converted again. A file lock
    keeps two workers from converting at once; the folder is written under a
    temporary name and renamed, so a crash never leaves a half-written cache.
    """
    stat = gguf_path.stat()
    final = gguf_cache_folder(gguf_path, cache_dir)
    root, name = final.parent, final.name
    if (final / "config.json").is_file():
        return final
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (final / "config.json").is_file():  # another worker converted it meanwhile
            return final
        for stale in root.glob(f".{name}.tmp-*"):  # left by a crashed conversion
            shutil.rmtree(stale, ignore_errors=True)
        temporary = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=root))
        temporary.chmod(0o755)  # mkdtemp makes it private; the cache is shared
        try:
            model, tokenizer = load_gguf(gguf_path)
            model.save_pretrained(temporary, safe_serialization=True)
            tokenizer.save_pretrained(temporary)
            # save_pretrained copies the vocab file, which for GGUF is the whole model file.
            (temporary / "tokenizer.model").unlink(missing_ok=True)
            source = {
                "file": str(gguf_path),
                "size": stat.st_size,
                "mtime_ns": stat.st_mtime_ns,
            }
            source["transformers"] = transformers.__version__
            (temporary / "gguf_source.json").write_text(json.dumps(source, indent=2))
            os.rename(temporary, final)
        except BaseException:
            shutil.rmtree(temporary, ignore_errors=True)
            raise
    return final
