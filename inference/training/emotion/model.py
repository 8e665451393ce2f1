"""The trained classifier: load it, pool, predict probabilities and labels with its thresholds."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .data import collate, encode


def pool_logits(model: Any, batch: dict[str, torch.Tensor], pooling: str) -> torch.Tensor:
    """Logits of a ``BertForSequenceClassification`` with the given pooling."""
    if pooling == "cls":
        return model(**batch).logits
    if pooling == "mean":
        hidden = model.bert(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return model.classifier(model.dropout(pooled))
    raise ValueError(f"unknown pooling {pooling!r} (expected 'cls' or 'mean')")


def load_model(model_dir: str | Path) -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` from a trained folder, in float32, eval mode."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer  # lazily: its import is slow

    model = AutoModelForSequenceClassification.from_pretrained(str(model_dir), dtype=torch.float32)
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    return model, tokenizer


@torch.inference_mode()
def predict_logits(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    max_tokens: int | None = None,
    batch_size: int = 128,
) -> np.ndarray:
    """``(n, num_labels)`` logits, batching texts of similar length together.

    Honours ``model.config.pooling`` (``"cls"`` default, or ``"mean"``).
    """
    pooling = getattr(model.config, "pooling", "cls")
    if max_tokens is None:
        max_tokens = int(getattr(model.config, "max_tokens", 128))
    was_training = model.training
    model.eval()
    encoded = encode(tokenizer, texts, max_tokens)
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    out = np.zeros((len(encoded), model.config.num_labels), dtype=np.float32)
    pad_id = tokenizer.pad_token_id or 0
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        batch = collate([encoded[i] for i in idx], pad_id)
        out[idx] = pool_logits(model, batch, pooling).float().numpy()
    if was_training:
        model.train()
    return out


def predict_proba(model: Any, tokenizer: Any, texts: Sequence[str], **kwargs: Any) -> np.ndarray:
    """Sigmoid probabilities, ``(n, num_labels)``."""
    logits = predict_logits(model, tokenizer, texts, **kwargs)
    return 1.0 / (1.0 + np.exp(-logits))


def thresholds_vector(config: Any, labels: Sequence[str], default: float = 0.5) -> np.ndarray:
    """The ``thresholds`` config entry as a vector in label order (default 0.5)."""
    table = getattr(config, "thresholds", None) or {}
    return np.array([float(table.get(name, default)) for name in labels], dtype=np.float32)


def predict_labels(model: Any, tokenizer: Any, texts: Sequence[str]) -> list[dict[str, float]]:
    """For each text, ``{label: probability}`` of the labels over their threshold.

    If no label passes its threshold the single most likely label is returned.
    """
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    thr = thresholds_vector(model.config, labels)
    probs = predict_proba(model, tokenizer, texts)
    out: list[dict[str, float]] = []
    for row in probs:
        hits = {labels[j]: float(row[j]) for j in np.flatnonzero(row >= thr)}
        if not hits:
            j = int(row.argmax())
            hits = {labels[j]: float(row[j])}
        out.append(dict(sorted(hits.items(), key=lambda kv: -kv[1])))
    return out
