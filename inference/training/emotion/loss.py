"""Per-label positive weights for the multi-label BCE loss, so rare labels are not starved."""

from __future__ import annotations

import numpy as np

POS_WEIGHT_MODES = ("none", "sqrt", "linear")


def positive_weights(y: np.ndarray, mode: str = "sqrt", max_weight: float = 10.0) -> np.ndarray:
    """``pos_weight`` for ``BCEWithLogitsLoss`` from the 0/1 label matrix ``y`` (rows x labels).

    ``"sqrt"``: ``clip(sqrt(neg / pos), 1, max_weight)``; ``"linear"``:
    ``clip(neg / pos, 1, max_weight)``; ``"none"``: all ones. A label with no
    positive row gets 1 (its weight multiplies nothing).
    """
    if mode not in POS_WEIGHT_MODES:
        raise ValueError(f"pos_weight mode must be one of {', '.join(POS_WEIGHT_MODES)}, not {mode!r}")
    if max_weight < 1.0:
        raise ValueError(f"max_weight must be >= 1, not {max_weight}")
    pos = (y > 0.5).sum(0).astype(np.float64)
    if mode == "none":
        return np.ones(y.shape[1], dtype=np.float32)
    ratio = (y.shape[0] - pos) / np.maximum(pos, 1.0)
    weights = np.sqrt(ratio) if mode == "sqrt" else ratio
    weights = np.clip(weights, 1.0, max_weight)
    weights[pos == 0] = 1.0
    return weights.astype(np.float32)
