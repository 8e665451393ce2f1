"""Fine-tuning MiniLM on GoEmotions (``train``): checkpoints and thresholds chosen on a validation slice."""

from __future__ import annotations

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

from .checkpoint import State, average_states, fp16_round_trip, save_model, snapshot
from .data import (
    BASE_MODEL_NAME,
    Example,
    base_model_path,
    collate,
    encode,
    length_bucketed_batches,
    multi_hot,
    read_labels,
    read_tsv,
)
from .evaluate import Scored, tune_and_score, validation_slice
from .loss import positive_weights
from .model import pool_logits

ProgressFn = Callable[[str], None]

FP16_TOLERANCE = 0.001
"""``save_dtype="auto"`` stores float16 unless it costs more validation macro-F1 than this."""


@dataclass
class TrainResult:
    """What :func:`train` returns; every figure is on the validation slice (dev is never read)."""

    output_dir: Path
    best_epoch: int
    val_macro_f1: float
    val_micro_f1: float
    thresholds: dict[str, float]
    averaged_epochs: list[int] | None = None
    save_dtype: str = "float16"
    history: list[dict[str, Any]] = field(default_factory=list)
    wall_seconds: float = 0.0
    soup_of: list[str] | None = None
    """For a weight average of runs (:func:`~.soup.soup`): the members kept in it."""


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _fmt_secs(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _record(name: str, scored: Scored, **extra: Any) -> dict[str, Any]:
    return {
        "epoch": name,
        "val_macro_f1": scored.tuned.macro_f1,
        "val_micro_f1": scored.tuned.micro_f1,
        "val_macro_f1_at_0.5": scored.at_half.macro_f1,
        "val_micro_f1_at_0.5": scored.at_half.micro_f1,
        **extra,
    }


def write_history(output_dir: Path, history: list[dict[str, Any]]) -> None:
    (output_dir / "training_history.json").write_text(json.dumps(history, indent=2) + "\n", encoding="utf-8")


def choose_dtype(
    model: Any,
    tokenizer: Any,
    state: State,
    scored: Scored,
    val_ex: Sequence[Example],
    labels: Sequence[str],
    max_tokens: int | None,
    save_dtype: str,
    log: ProgressFn,
    bootstrap: int = 0,
) -> tuple[str, Scored]:
    """Load ``state`` into ``model`` as it will be stored; return its dtype and its scores with it.

    ``"auto"``: float16 unless rounding to it costs more than ``FP16_TOLERANCE`` of validation macro-F1
    (``scored`` are the float32 weights' figures; the thresholds are tuned again on the rounded weights).
    """
    model.load_state_dict(state)
    if save_dtype == "float32":
        return "float32", scored
    model.load_state_dict(fp16_round_trip(state))
    half = tune_and_score(model, tokenizer, val_ex, labels, max_tokens, bootstrap=bootstrap)
    log(f"float16 weights: val macro_f1={half.tuned.macro_f1:.4f} (float32 {scored.tuned.macro_f1:.4f})")
    if save_dtype == "auto" and half.tuned.macro_f1 < scored.tuned.macro_f1 - FP16_TOLERANCE:
        model.load_state_dict(state)
        return "float32", scored
    return "float16", half


def train(
    data_dir: str | Path,
    output_dir: str | Path,
    *,
    epochs: int = 4,
    patience: int = 1,
    val_fraction: float = 0.1,
    pos_weight: str = "sqrt",
    pos_weight_max: float = 10.0,
    average_last: bool = True,
    keep: str = "best",
    save_dtype: str = "auto",
    batch_size: int = 32,
    lr: float = 1e-4,
    max_tokens: int = 64,
    seed: int = 42,
    order_seed: int | None = None,
    autocast: str = "off",
    limit: int | None = None,
    pooling: str = "mean",
    warmup_ratio: float = 0.06,
    weight_decay: float = 0.01,
    num_threads: int | None = 2,
    freeze_word_embeddings: bool = True,
    base_model: str | Path | None = None,
    log_every: int = 50,
    progress: ProgressFn | None = print,
) -> TrainResult:
    """Fine-tune all-MiniLM-L6-v2 (whole encoder + linear head) on GoEmotions, choosing on a validation slice.

    Reads ``train.tsv`` and ``labels.txt`` from ``data_dir``, never ``dev.tsv``
    (that split stays held out for the final figure). ``val_fraction`` of the
    training rows (stratified by each row's rarest label, drawn from ``seed``;
    :func:`~.split.stratified_split`) form the validation slice; the model
    trains on the rest. After every epoch per-label thresholds are tuned on the
    slice and its macro-F1 picks the checkpoint; training stops after
    ``patience`` epochs without a gain, or after ``epochs``. With
    ``average_last`` the mean of the last two epochs' weights is scored too
    and kept if it beats the best epoch. ``keep="last"`` trains all ``epochs``
    (no early stop) and keeps the last epoch, or the mean of the last two if
    that scores higher: every run of a weight average then ends at the same
    point of its schedule. ``save_dtype`` is ``"float16"``,
    ``"float32"`` or ``"auto"`` (float16 unless rounding the weights to it
    costs more than ``FP16_TOLERANCE`` of validation macro-F1); thresholds are
    tuned on the weights as stored.

    Loss: BCE-with-logits with per-label ``pos_weight`` from the training
    part's label frequencies (:func:`~.loss.positive_weights`: ``"sqrt"`` is
    ``clip(sqrt(neg/pos), 1, pos_weight_max)``, ``"linear"``, or ``"none"``).
    ``pooling="mean"`` feeds the masked mean of the last hidden states to the
    head (all-MiniLM-L6-v2 was trained for mean pooling; ``"cls"`` learned far
    more slowly). Batches are length-bucketed and dynamically padded; AdamW
    with linear warm-up and decay over ``epochs``; the word-embedding matrix
    is frozen by default (on CPU its dense update costs more than the rest of
    a short-sequence step, for no measurable gain). The best model so far is
    saved after each improving epoch, so an interrupted run leaves one.
    ``limit`` reads the first training rows only (tests).

    ``seed`` draws the validation slice and initialises the head; ``order_seed``
    (``seed`` when None) draws the batch order and dropout, so runs that differ
    only in it share their slice and starting point (members of an ensemble or
    a weight average). ``autocast="bf16"`` runs forward and backward passes in
    bfloat16 autocast (weights and optimiser stay float32; on CPUs with native
    bfloat16 about 1.4 times faster a step on two threads).
    """
    # transformers lazily (its import is slow): the data and metrics helpers are used without it.
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup

    log: ProgressFn = progress or (lambda _msg: None)
    if pooling not in ("cls", "mean"):
        raise ValueError(f"pooling must be 'cls' or 'mean', not {pooling!r}")
    if save_dtype not in ("auto", "float16", "float32"):
        raise ValueError(f"save_dtype must be 'auto', 'float16' or 'float32', not {save_dtype!r}")
    if epochs < 1 or patience < 1:
        raise ValueError("epochs and patience must be at least 1")
    if keep not in ("best", "last"):
        raise ValueError(f"keep must be 'best' or 'last', not {keep!r}")
    if autocast not in ("off", "bf16"):
        raise ValueError(f"autocast must be 'off' or 'bf16', not {autocast!r}")
    if num_threads:
        torch.set_num_threads(num_threads)
    _seed_everything(seed)
    order_seed = seed if order_seed is None else order_seed
    rng = np.random.default_rng(order_seed)

    data_dir = Path(data_dir)
    output_dir = Path(output_dir)
    labels = read_labels(data_dir)
    rows = read_tsv(data_dir / "train.tsv", limit=limit)
    if not rows:
        raise ValueError(f"no training rows in {data_dir / 'train.tsv'}")
    train_ex, val_ex = validation_slice(rows, len(labels), val_fraction, seed)
    base = Path(base_model) if base_model else base_model_path()
    log(f"train={len(train_ex)} val={len(val_ex)} (of {len(rows)} training rows) labels={len(labels)} base={base}")

    tokenizer = AutoTokenizer.from_pretrained(str(base))
    model = AutoModelForSequenceClassification.from_pretrained(
        str(base),
        num_labels=len(labels),
        problem_type="multi_label_classification",
        id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)},
        dtype=torch.float32,
    )
    _seed_everything(order_seed)  # the head is initialised from ``seed``; dropout follows the order's seed
    encoded = encode(tokenizer, [ex.text for ex in train_ex], max_tokens)
    lengths = [len(ids) for ids in encoded]
    y_np = multi_hot(train_ex, len(labels))
    y_train = torch.from_numpy(y_np)
    pad_id = tokenizer.pad_token_id or 0
    weights = positive_weights(y_np, pos_weight, pos_weight_max)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.from_numpy(weights))

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

    model.config.pooling = pooling
    model.config.max_tokens = max_tokens
    model.config.base_model = BASE_MODEL_NAME
    hyper = {
        "epochs": epochs,
        "patience": patience,
        "val_fraction": val_fraction,
        "pos_weight": pos_weight,
        "pos_weight_max": pos_weight_max,
        "average_last": average_last,
        "keep": keep,
        "batch_size": batch_size,
        "lr": lr,
        "max_tokens": max_tokens,
        "seed": seed,
        "order_seed": order_seed,
        "autocast": autocast,
        "limit": limit,
        "warmup_ratio": warmup_ratio,
        "weight_decay": weight_decay,
        "pooling": pooling,
        "freeze_word_embeddings": freeze_word_embeddings,
        "num_threads": num_threads or torch.get_num_threads(),
        "source_rows": len(rows),
        "train_rows": len(train_ex),
        "val_rows": len(val_ex),
    }
    model.config.training = hyper
    log(f"steps/epoch={steps_per_epoch} max total={total_steps} {json.dumps(hyper)}")
    log("pos_weight " + " ".join(f"{name}={w:.2f}" for name, w in zip(labels, weights, strict=True)))

    start = time.monotonic()
    step, stale = 0, 0
    history: list[dict[str, Any]] = []
    best: tuple[float, str, State, Scored] | None = None  # (val macro-F1, what, weights, scores)
    states: list[State] = []
    for epoch in range(1, epochs + 1):
        model.train()
        running, seen, epoch_loss, epoch_batches = 0.0, 0, 0.0, 0
        for batch_idx in length_bucketed_batches(lengths, batch_size, rng):
            batch = collate([encoded[i] for i in batch_idx], pad_id)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast == "bf16"):
                logits = pool_logits(model, batch, pooling)
            loss = loss_fn(logits.float(), y_train[batch_idx])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            running += loss.item()
            seen += 1
            epoch_loss += loss.item()
            epoch_batches += 1
            if step % log_every == 0 or step == total_steps:
                elapsed = time.monotonic() - start
                eta = elapsed / step * (total_steps - step)
                log(
                    f"epoch {epoch}/{epochs} step {step}/{total_steps} loss {running / seen:.4f} "
                    f"lr {scheduler.get_last_lr()[0]:.2e} elapsed {_fmt_secs(elapsed)} eta {_fmt_secs(eta)}"
                )
                running, seen = 0.0, 0

        t0 = time.monotonic()
        scored = tune_and_score(model, tokenizer, val_ex, labels, max_tokens)
        history.append(
            _record(
                str(epoch), scored, train_loss=epoch_loss / max(epoch_batches, 1), elapsed_s=time.monotonic() - start
            )
        )
        log(
            f"epoch {epoch} val macro_f1={scored.tuned.macro_f1:.4f} micro_f1={scored.tuned.micro_f1:.4f} "
            f"(at 0.5: macro {scored.at_half.macro_f1:.4f} micro {scored.at_half.micro_f1:.4f}) "
            f"eval {time.monotonic() - t0:.0f}s"
        )
        states = [*states[-1:], snapshot(model)]
        if best is None or scored.tuned.macro_f1 > best[0]:
            best, stale = (scored.tuned.macro_f1, str(epoch), states[-1], scored), 0
            model.config.best_epoch, model.config.averaged_epochs = epoch, None
            save_model(model, tokenizer, output_dir, scored, labels, "float32")
            log(f"saved epoch {epoch} to {output_dir} (float32 until the end)")
        else:
            stale += 1
            if keep == "best" and stale >= patience:
                log(f"early stop: no validation gain for {stale} epoch(s)")
                break
        write_history(output_dir, history)

    assert best is not None
    last_epoch = int(history[-1]["epoch"])
    if keep == "last":
        best = (scored.tuned.macro_f1, str(last_epoch), states[-1], scored)
    averaged: list[int] | None = None
    if average_last and len(states) == 2:
        model.load_state_dict(average_states(*states))
        scored = tune_and_score(model, tokenizer, val_ex, labels, max_tokens)
        history.append(_record(f"mean of {last_epoch - 1} and {last_epoch}", scored))
        log(f"mean of epochs {last_epoch - 1} and {last_epoch}: val macro_f1={scored.tuned.macro_f1:.4f}")
        if scored.tuned.macro_f1 > best[0]:
            averaged = [last_epoch - 1, last_epoch]
            best = (scored.tuned.macro_f1, history[-1]["epoch"], snapshot(model), scored)
    _, chosen, state, final = best
    dtype, final = choose_dtype(model, tokenizer, state, final, val_ex, labels, max_tokens, save_dtype, log)
    model.config.best_epoch = averaged[-1] if averaged else int(chosen)
    model.config.averaged_epochs = averaged
    save_model(model, tokenizer, output_dir, final, labels, dtype)
    history.append(_record(f"stored ({chosen}, {dtype})", final))
    write_history(output_dir, history)
    result = TrainResult(
        output_dir,
        int(model.config.best_epoch),
        final.tuned.macro_f1,
        final.tuned.micro_f1,
        dict(model.config.thresholds),
        averaged,
        dtype,
        history,
        time.monotonic() - start,
    )
    log(f"done in {_fmt_secs(result.wall_seconds)}; stored {chosen} as {dtype}: val macro_f1={result.val_macro_f1:.4f}")
    return result
