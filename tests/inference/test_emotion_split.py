"""The validation slice carved from GoEmotions' training split: stratified, seeded, disjoint (no model needed)."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from inference.training.emotion import Example, positive_weights, rarest_label_strata, read_tsv, stratified_split

SHARED_TRAIN = Path(__file__).resolve().parents[2].parent / "shared/data/goemotions/train.tsv"


@pytest.fixture(scope="module")
def rows() -> list[Example]:
    """The real training split when it is beside the checkout, else a skewed synthetic one."""
    if SHARED_TRAIN.is_file():
        return read_tsv(SHARED_TRAIN)
    rng = np.random.default_rng(0)
    freq = np.geomspace(0.3, 0.003, 28)
    out = []
    for i in range(20_000):
        labels = tuple(int(j) for j in np.flatnonzero(rng.random(28) < freq)) or (27,)
        out.append(Example(f"text {i}", labels, f"id{i}"))
    return out


def test_split_is_disjoint_complete_and_ten_percent(rows: list[Example]) -> None:
    train_idx, val_idx = stratified_split(rows, 28, 0.1, seed=42)
    assert set(train_idx).isdisjoint(val_idx)
    assert sorted(train_idx + val_idx) == list(range(len(rows)))
    assert len(val_idx) == round(0.1 * len(rows))
    # No text of the validation slice is a training row (the comment ids differ too).
    assert {rows[i].comment_id for i in val_idx}.isdisjoint({rows[i].comment_id for i in train_idx})


def test_split_is_stratified_by_rarest_label(rows: list[Example]) -> None:
    _, val_idx = stratified_split(rows, 28, 0.1, seed=42)
    strata = rarest_label_strata(rows, 28)
    everywhere = Counter(strata)
    in_val = Counter(strata[i] for i in val_idx)
    for stratum, n in everywhere.items():
        assert math.floor(0.1 * n) <= in_val[stratum] <= math.ceil(0.1 * n), stratum
    # Every label, the rarest included, is in the slice at roughly its share of the training split.
    positives = Counter(j for ex in rows for j in set(ex.labels))
    val_positives = Counter(j for i in val_idx for j in set(rows[i].labels))
    for label, n in positives.items():
        assert val_positives[label] >= 1, label
        if n >= 1000:
            assert 0.08 <= val_positives[label] / n <= 0.12, label


def test_split_is_deterministic_per_seed(rows: list[Example]) -> None:
    first = stratified_split(rows, 28, 0.1, seed=7)
    assert stratified_split(rows, 28, 0.1, seed=7) == first
    other = stratified_split(rows, 28, 0.1, seed=8)
    assert other[1] != first[1] and len(other[1]) == len(first[1])


def test_split_rejects_a_bad_fraction(rows: list[Example]) -> None:
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match="val_fraction"):
            stratified_split(rows[:100], 28, bad)


def test_rarest_label_decides_the_stratum() -> None:
    rows = [Example("a", (0,)), Example("b", (0,)), Example("c", (0, 1)), Example("d", (2,))]
    assert rarest_label_strata(rows, 3) == [0, 0, 1, 2]


def test_positive_weights_lift_rare_labels_and_clip() -> None:
    y = np.zeros((1000, 3), dtype=np.float32)
    y[:500, 0] = 1  # neg/pos = 1
    y[:10, 1] = 1  # neg/pos = 99
    weights = positive_weights(y, "sqrt", 10.0)
    assert weights[0] == pytest.approx(1.0)
    assert weights[1] == pytest.approx(math.sqrt(99))
    assert weights[2] == 1.0  # no positives: nothing to weigh
    assert positive_weights(y, "linear", 10.0)[1] == pytest.approx(10.0)
    assert positive_weights(y, "none").tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="pos_weight"):
        positive_weights(y, "cube")
