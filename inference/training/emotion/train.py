"""Fine-tuning MiniLM on GoEmotions (``train``), evaluation (``evaluate``) and re-tuning thresholds."""

from __future__ import annotations

import copy
import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .data import (
    BASE_MODEL_NAME,
    base_model_path,
    collate,
    encode,
    length_bucketed_batches,
    multi_hot,
    read_labels,
    read_tsv,
)
from .metrics import EvalReport, f1_report, tune_thresholds
from .model import load_model, pool_logits, predict_logits, predict_proba, thresholds_vector

ProgressFn = Callable[[str], None]


@dataclass
class TrainResult:
    """What :func:`train` returns."""

    output_dir: Path
    best_epoch: int
    dev_macro_f1: float
    dev_micro_f1: float
    thresholds: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    wall_seconds: float = 0.0


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _fmt_secs(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _save_fp16(model: Any, tokenizer: Any, output_dir: Path) -> None:
    """Save a float16 copy of the model (safetensors) and the tokenizer."""
    output_dir.mkdir(parents=True, exist_ok=True)
    half = copy.deepcopy(model).half()
    half.save_pretrained(str(output_dir), safe_serialization=True)
    tokenizer.save_pretrained(str(output_dir))
    del half


def train(
    data_dir: str | Path,
    output_dir: str | Path,
    *,
    epochs: int = 3,
    batch_size: int = 32,
    lr: float = 1e-4,
    max_tokens: int = 64,
    seed: int = 42,
    limit: int | None = None,
    dev_limit: int | None = None,
    pooling: str = "mean",
    warmup_ratio: float = 0.06,
    weight_decay: float = 0.01,
    num_threads: int | None = 2,
    freeze_word_embeddings: bool = True,
    base_model: str | Path | None = None,
    log_every: int = 50,
    progress: ProgressFn | None = print,
) -> TrainResult:
    """Fine-tune all-MiniLM-L6-v2 (whole encoder + linear head) on GoEmotions.

    Reads ``train.tsv``, ``dev.tsv`` and ``labels.txt`` from ``data_dir``.
    ``pooling="mean"`` (default) feeds the masked mean of the last hidden
    states to the head (all-MiniLM-L6-v2 was trained for mean pooling; the
    ``[CLS]`` pooler, ``pooling="cls"``, learned far more slowly here: dev
    macro-F1 0.33 after 2 of 3 epochs against about 0.5).
    Batches are length-bucketed and dynamically padded. AdamW with linear
    warm-up (``warmup_ratio`` of the steps) and linear decay; BCE-with-logits
    loss (multi-label). The word-embedding matrix (half of the parameters) is
    frozen by default (``freeze_word_embeddings``): on CPU its dense gradient
    and optimizer update cost more than the rest of a short-sequence step, for
    no measurable gain. After every epoch the dev split is scored, per-label
    thresholds are tuned on it, and if dev macro-F1 improved the model is
    saved (fp16 safetensors + tokenizer) to ``output_dir``, so an interrupted
    run still leaves the best model so far. ``limit`` / ``dev_limit`` train /
    score on the first rows only (tests). ``progress`` receives log lines
    (step, loss, elapsed, ETA); ``None`` silences them.
    """
    # transformers lazily (its import is slow): the data and metrics helpers are used without it.
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup

    log: ProgressFn = progress or (lambda _msg: None)
    if pooling not in ("cls", "mean"):
        raise ValueError(f"pooling must be 'cls' or 'mean', not {pooling!r}")
    if num_threads:
        torch.set_num_threads(num_threads)
    _seed_everything(seed)
    rng = np.random.default_rng(seed)

    data_dir = Path(data_dir)
    output_dir = Path(output_dir)
    labels = read_labels(data_dir)
    train_ex = read_tsv(data_dir / "train.tsv", limit=limit)
    dev_ex = read_tsv(data_dir / "dev.tsv", limit=dev_limit)
    if not train_ex:
        raise ValueError(f"no training rows in {data_dir / 'train.tsv'}")
    base = Path(base_model) if base_model else base_model_path()
    log(f"train={len(train_ex)} dev={len(dev_ex)} labels={len(labels)} base={base}")

    tokenizer = AutoTokenizer.from_pretrained(str(base))
    model = AutoModelForSequenceClassification.from_pretrained(
        str(base),
        num_labels=len(labels),
        problem_type="multi_label_classification",
        id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)},
        dtype=torch.float32,
    )
    encoded = encode(tokenizer, [ex.text for ex in train_ex], max_tokens)
    lengths = [len(ids) for ids in encoded]
    y_train = torch.from_numpy(multi_hot(train_ex, len(labels)))
    y_dev = multi_hot(dev_ex, len(labels))
    pad_id = tokenizer.pad_token_id or 0

    steps_per_epoch = math.ceil(len(train_ex) / batch_size)
    total_steps = steps_per_epoch * epochs
    if freeze_word_embeddings:
        model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    no_decay = ("bias", "LayerNorm.weight")
    groups = [
        {"params": [p for n, p in trainable if not n.endswith(no_decay)], "weight_decay": weight_decay},
        {"params": [p for n, p in trainable if n.endswith(no_decay)], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=lr, foreach=True)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(warmup_ratio * total_steps), total_steps)
    loss_fn = nn.BCEWithLogitsLoss()

    model.config.pooling = pooling
    model.config.max_tokens = max_tokens
    model.config.base_model = BASE_MODEL_NAME
    hyper = {
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "max_tokens": max_tokens,
        "seed": seed,
        "warmup_ratio": warmup_ratio,
        "weight_decay": weight_decay,
        "pooling": pooling,
        "freeze_word_embeddings": freeze_word_embeddings,
        "num_threads": num_threads or torch.get_num_threads(),
        "train_rows": len(train_ex),
        "dev_rows": len(dev_ex),
    }
    model.config.training = hyper

    log(f"steps/epoch={steps_per_epoch} total={total_steps} {json.dumps(hyper)}")
    start = time.monotonic()
    step = 0
    best: TrainResult | None = None
    history: list[dict[str, float]] = []
    for epoch in range(1, epochs + 1):
        model.train()
        running, seen = 0.0, 0
        for batch_idx in length_bucketed_batches(lengths, batch_size, rng):
            batch = collate([encoded[i] for i in batch_idx], pad_id)
            logits = pool_logits(model, batch, pooling)
            loss = loss_fn(logits, y_train[batch_idx])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            running += loss.item()
            seen += 1
            if step % log_every == 0 or step == total_steps:
                elapsed = time.monotonic() - start
                eta = elapsed / step * (total_steps - step)
                log(
                    f"epoch {epoch}/{epochs} step {step}/{total_steps} loss {running / seen:.4f} "
                    f"lr {scheduler.get_last_lr()[0]:.2e} elapsed {_fmt_secs(elapsed)} eta {_fmt_secs(eta)}"
                )
                running, seen = 0.0, 0

        # ---- dev evaluation, threshold tuning, checkpoint
        t0 = time.monotonic()
        if dev_ex:
            probs = 1.0 / (1.0 + np.exp(-predict_logits(model, tokenizer, [ex.text for ex in dev_ex], max_tokens)))
            thr = tune_thresholds(y_dev, probs)
            tuned = f1_report(y_dev, probs, thr, labels)
            plain = f1_report(y_dev, probs, 0.5, labels)
        else:
            thr = np.full(len(labels), 0.5, dtype=np.float32)
            tuned = plain = EvalReport([], 0.0, 0.0, 0.0, 0.0, 0)
        record = {
            "epoch": float(epoch),
            "dev_macro_f1": tuned.macro_f1,
            "dev_micro_f1": tuned.micro_f1,
            "dev_macro_f1_at_0.5": plain.macro_f1,
            "dev_micro_f1_at_0.5": plain.micro_f1,
            "elapsed_s": time.monotonic() - start,
        }
        history.append(record)
        log(
            f"epoch {epoch} dev macro_f1={tuned.macro_f1:.4f} micro_f1={tuned.micro_f1:.4f} "
            f"(at 0.5: macro {plain.macro_f1:.4f} micro {plain.micro_f1:.4f}) eval {time.monotonic() - t0:.0f}s"
        )
        if best is None or tuned.macro_f1 > best.dev_macro_f1:
            thresholds = {name: round(float(t), 3) for name, t in zip(labels, thr, strict=False)}
            model.config.thresholds = thresholds
            model.config.dev_macro_f1 = round(tuned.macro_f1, 4)
            model.config.dev_micro_f1 = round(tuned.micro_f1, 4)
            model.config.best_epoch = epoch
            model.config.dev_per_label = {
                m.label: {
                    "precision": round(m.precision, 4),
                    "recall": round(m.recall, 4),
                    "f1": round(m.f1, 4),
                    "support": m.support,
                }
                for m in tuned.per_label
            }
            _save_fp16(model, tokenizer, output_dir)
            best = TrainResult(output_dir, epoch, tuned.macro_f1, tuned.micro_f1, thresholds)
            log(f"saved epoch {epoch} to {output_dir}")
        (output_dir / "training_history.json").write_text(json.dumps(history, indent=2) + "\n", encoding="utf-8")

    assert best is not None
    best.history = history
    best.wall_seconds = time.monotonic() - start
    log(f"done in {_fmt_secs(best.wall_seconds)}; best epoch {best.best_epoch} dev macro_f1={best.dev_macro_f1:.4f}")
    return best


# -------------------------------------------------------------------- evaluation


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
    ``thresholds`` is given. Returns per-label precision/recall/F1/support and
    macro/micro F1 over all the model's labels.
    """
    if num_threads:
        torch.set_num_threads(num_threads)
    model, tokenizer = load_model(model_dir)
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    examples = read_tsv(tsv_path, limit=limit)
    y = multi_hot(examples, len(labels))
    probs = predict_proba(model, tokenizer, [ex.text for ex in examples])
    thr = thresholds_vector(model.config, labels) if thresholds is None else np.asarray(thresholds, dtype=np.float32)
    return f1_report(y, probs, thr, labels)


def retune_thresholds(model_dir: str | Path, dev_tsv: str | Path) -> EvalReport:
    """Tune the per-label thresholds of a trained model on ``dev_tsv`` again, weights untouched.

    Rewrites ``thresholds``, ``dev_macro_f1`` and ``dev_micro_f1`` in the
    folder's config.json; returns the dev report with the new thresholds.
    """
    model_dir = Path(model_dir)
    model, tokenizer = load_model(model_dir)
    labels = [model.config.id2label[i] for i in range(len(model.config.id2label))]
    examples = read_tsv(dev_tsv)
    probs = predict_proba(model, tokenizer, [e.text for e in examples])
    y_dev = multi_hot(examples, len(labels))
    thr = tune_thresholds(y_dev, probs)
    report = f1_report(y_dev, probs, thr, labels)
    config_path = model_dir / "config.json"
    config = json.loads(config_path.read_text())
    config["thresholds"] = {name: round(float(t), 3) for name, t in zip(labels, thr, strict=True)}
    config["dev_macro_f1"] = round(report.macro_f1, 4)
    config["dev_micro_f1"] = round(report.micro_f1, 4)
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return report
