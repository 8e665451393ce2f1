"""The validation slice carved out of the training split, stratified by each example's rarest label.

The dev split stays held out: checkpoints and thresholds are chosen on this slice.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .data import Example


def rarest_label_strata(examples: Sequence[Example], num_labels: int) -> list[int]:
    """Each example's stratum: the least frequent of its labels (ties: the lower id).

    Frequencies are counted over ``examples`` themselves. Examples without a
    label in ``range(num_labels)`` get stratum ``num_labels``.
    """
    counts = np.zeros(num_labels, dtype=np.int64)
    for ex in examples:
        for j in set(ex.labels):
            if 0 <= j < num_labels:
                counts[j] += 1
    strata = []
    for ex in examples:
        own = [j for j in set(ex.labels) if 0 <= j < num_labels]
        strata.append(min(own, key=lambda j: (counts[j], j)) if own else num_labels)
    return strata


def stratified_split(
    examples: Sequence[Example], num_labels: int, val_fraction: float = 0.1, seed: int = 42
) -> tuple[list[int], list[int]]:
    """``(train_indices, val_indices)``: a disjoint, seeded split of ``examples``.

    Examples are grouped by :func:`rarest_label_strata`; each group gives
    ``val_fraction`` of its members to the validation slice (largest-remainder
    rounding, so the slice holds ``round(val_fraction * n)`` rows in all and a
    label with 1/val_fraction examples or more is in it). Which members go is
    drawn per group from ``seed``; the same rows and seed give the same split.
    Both lists are sorted.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be between 0 and 1 (exclusive), not {val_fraction}")
    n = len(examples)
    if n < 2:
        raise ValueError(f"need at least 2 training rows to carve a validation slice, got {n}")
    strata = rarest_label_strata(examples, num_labels)
    groups: dict[int, list[int]] = {}
    for i, s in enumerate(strata):
        groups.setdefault(s, []).append(i)
    keys = sorted(groups)
    exact = {s: val_fraction * len(groups[s]) for s in keys}
    take = {s: math.floor(exact[s]) for s in keys}
    target = min(n - 1, max(1, round(val_fraction * n)))
    by_remainder = sorted(keys, key=lambda s: (-(exact[s] - take[s]), s))
    for s in by_remainder[: max(0, target - sum(take.values()))]:
        take[s] += 1
    val: list[int] = []
    for s in keys:
        members = np.asarray(groups[s])
        rng = np.random.default_rng([seed, s])
        val.extend(members[rng.permutation(len(members))[: take[s]]].tolist())
    val_set = set(val)
    return [i for i in range(n) if i not in val_set], sorted(val)
