"""Scoring a model on a split: evaluation of a trained folder, and threshold tuning on the validation slice."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inference.kinds.emotion import decide

from .data import Example, multi_hot, read_tsv
from .metrics import EvalReport, f1_report, tune_thresholds
from .model import load_model, predict_proba, thresholds_vector
from .split import stratified_split


@dataclass
class Scored:
    """A model's figures on one split: thresholds tuned there, the report with them and at 0.5."""

    thresholds: np.ndarray
    tuned: EvalReport
    at_half: EvalReport


def tune_and_score(
    model: Any,
    tokenizer: Any,
    examples: Sequence[Example],
    labels: Sequence[str],
    max_tokens: int | None = None,
    bootstrap: int = 0,
) -> Scored:
    """Predict ``examples``, tune per-label thresholds on them (``bootstrap``: see :func:`tune_thresholds`), report."""
    y = multi_hot(examples, len(labels))
    probs = predict_proba(model, tokenizer, [ex.text for ex in examples], max_tokens=max_tokens)
    thr = tune_thresholds(y, probs, bootstrap=bootstrap)
    return Scored(thr, f1_report(y, probs, thr, labels), f1_report(y, probs, 0.5, labels))


def validation_slice(
    train_examples: Sequence[Example], num_labels: int, val_fraction: float, seed: int
) -> tuple[list[Example], list[Example]]:
    """``(training rows, validation rows)`` of the training split (see :func:`stratified_split`)."""
    train_idx, val_idx = stratified_split(train_examples, num_labels, val_fraction, seed)
    return [train_examples[i] for i in train_idx], [train_examples[i] for i in val_idx]


def served_decisions(probs: np.ndarray, thresholds: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """0/1 matrix of the labels the emotion task kind answers for each row of ``probs``.

    The API does not return every label over its threshold: ``neutral`` only
    when no other emotion passes, and the top label when none passes
    (:func:`inference.kinds.emotion.decide`, used here so the figure is the
    served one, not a copy of its rule).
    """
    table = dict(zip(labels, (float(t) for t in thresholds), strict=True))
    index = {name: j for j, name in enumerate(labels)}
    out = np.zeros(probs.shape, dtype=np.float32)
    for i, row in enumerate(probs):
        for name in decide(dict(zip(labels, row.tolist(), strict=True)), table).split(", "):
            out[i, index[name]] = 1.0
    return out


def evaluate(
    model_dir: str | Path,
    tsv_path: str | Path,
    *,
    thresholds: Sequence[float] | float | None = None,
    limit: int | None = None,
    num_threads: int | None = 2,
) -> EvalReport:
    """Score a trained folder on a GoEmotions-format tsv.

    Uses the folder's tuned ``thresholds`` (0.5 for labels without one) unless
    ``thresholds`` is given. Returns per-label precision/recall/F1/support (and
    how often each label was predicted) and macro/micro F1 over all labels, of
    every label over its threshold; ``served`` scores what the API answers
    (:func:`served_decisions`).
    """
    if num_threads:
        torch.set_num_threads(num_threads)
    model, tokenizer = load_model(model_dir)
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    examples = read_tsv(tsv_path, limit=limit)
    y = multi_hot(examples, len(labels))
    probs = predict_proba(model, tokenizer, [ex.text for ex in examples])
    thr = thresholds_vector(model.config, labels) if thresholds is None else np.asarray(thresholds, dtype=np.float32)
    thr = np.broadcast_to(thr, (len(labels),))
    report = f1_report(y, probs, thr, labels)
    report.served = f1_report(y, served_decisions(probs, thr, labels), 0.5, labels)
    return report


def retune_thresholds(model_dir: str | Path, data_dir: str | Path, *, num_threads: int | None = 2) -> EvalReport:
    """Tune a trained model's per-label thresholds again on its validation slice, weights untouched.

    The slice is carved from ``data_dir/train.tsv`` exactly as training carved
    it (``val_fraction``, ``seed`` and ``limit`` from ``config.training``), by
    the method the model was stored with (``threshold_bootstrap``);
    ``dev.tsv`` is not read. Rewrites ``thresholds``, ``val_macro_f1`` and
    ``val_micro_f1`` in the folder's config.json; returns the validation report.
    """
    if num_threads:
        torch.set_num_threads(num_threads)
    model_dir = Path(model_dir)
    model, tokenizer = load_model(model_dir)
    labels = [model.config.id2label[i] for i in range(len(model.config.id2label))]
    hyper = getattr(model.config, "training", None) or {}
    if "val_fraction" not in hyper:
        raise ValueError(f"{model_dir} was not trained with a validation slice (no training.val_fraction in config)")
    rows = read_tsv(Path(data_dir) / "train.tsv", limit=hyper.get("limit"))
    if len(rows) != hyper.get("source_rows", len(rows)):
        raise ValueError(
            f"train.tsv has {len(rows)} rows where training read {hyper['source_rows']}: the slice would differ"
        )
    _, val_ex = validation_slice(rows, len(labels), float(hyper["val_fraction"]), int(hyper["seed"]))
    scored = tune_and_score(
        model,
        tokenizer,
        val_ex,
        labels,
        max_tokens=hyper.get("max_tokens"),
        bootstrap=hyper.get("threshold_bootstrap", 0),
    )
    config_path = model_dir / "config.json"
    config = json.loads(config_path.read_text())
    config["thresholds"] = {name: round(float(t), 3) for name, t in zip(labels, scored.thresholds, strict=True)}
    config["val_macro_f1"] = round(scored.tuned.macro_f1, 4)
    config["val_micro_f1"] = round(scored.tuned.micro_f1, 4)
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return scored.tuned
