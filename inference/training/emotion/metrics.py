"""Per-label and macro/micro F1, and per-label thresholds tuned on held-in data (the validation slice)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass
class LabelMetrics:
    """Precision/recall/F1 of one label."""

    label: str
    precision: float
    recall: float
    f1: float
    support: int
    threshold: float = 0.5
    predicted: int = 0
    """Rows on which the label passed its threshold (0: never predicted)."""


@dataclass
class EvalReport:
    """Per-label metrics plus macro/micro F1 over all labels."""

    per_label: list[LabelMetrics]
    macro_f1: float
    micro_f1: float
    micro_precision: float
    micro_recall: float
    n_examples: int
    served: EvalReport | None = None
    """The same rows scored as ``POST /api/emotion`` answers them (see :func:`~.evaluate.served_decisions`)."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)

    def never_predicted(self) -> list[str]:
        """Labels that passed their threshold on no row."""
        return [m.label for m in self.per_label if m.predicted == 0]

    def table(self) -> str:
        """Fixed-width per-label table (no summary line); never-predicted labels are marked."""
        width = max([5] + [len(m.label) for m in self.per_label])
        lines = [f"{'label':<{width}}  precision  recall      f1  support  predicted  threshold"]
        for m in self.per_label:
            mark = "  <- never predicted" if m.predicted == 0 else ""
            lines.append(
                f"{m.label:<{width}}  {m.precision:9.4f}  {m.recall:6.4f}  {m.f1:6.4f}  "
                f"{m.support:7d}  {m.predicted:9d}  {m.threshold:9.3f}{mark}"
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
    n_pred = pred.sum(0)
    per_label = []
    for j, name in enumerate(labels):
        p, r, f = _prf(tp[j], fp[j], fn[j])
        per_label.append(
            LabelMetrics(name, float(p), float(r), float(f), int(truth[:, j].sum()), float(thr[j]), int(n_pred[j]))
        )
    mp, mr, mf = _prf(tp.sum(), fp.sum(), fn.sum())
    macro = float(np.mean([m.f1 for m in per_label])) if per_label else 0.0
    return EvalReport(per_label, macro, float(mf), float(mp), float(mr), int(y_true.shape[0]))


def tune_thresholds(
    y_true: np.ndarray,
    probs: np.ndarray,
    grid: Sequence[float] | None = None,
    default: float = 0.5,
    bootstrap: int = 0,
    seed: int = 0,
) -> np.ndarray:
    """Per-label threshold maximising that label's F1 on held-in data (the validation slice).

    Labels without a positive example keep ``default``. Ties go to the
    threshold closest to ``default``. With ``bootstrap`` > 0 each label's
    threshold is the mean of the F1-maximising thresholds of that many
    resamples (rows drawn with replacement, from ``seed``): a rare label's
    best threshold on a few hundred rows jumps with every positive example,
    and the mean moves less on rows it was not tuned on.
    """
    if bootstrap > 0:
        rng = np.random.default_rng(seed)
        draws = [rng.integers(0, len(y_true), len(y_true)) for _ in range(bootstrap)]
        return np.mean([tune_thresholds(y_true[i], probs[i], grid, default) for i in draws], axis=0).astype(np.float32)
    if grid is None:
        # Steps of 0.001. The floor of 0.02 is deliberate: lower thresholds win rare labels
        # (grief, pride) a little F1 on the data they are tuned on but put "grief" on 2-5%
        # of ordinary texts, which users would see.
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
