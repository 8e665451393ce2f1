"""The model's weights between epochs (snapshots, their mean, float16 rounding) and the saved folder."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .evaluate import Scored

State = dict[str, torch.Tensor]


def snapshot(model: Any) -> State:
    """A detached copy of the model's weights."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def average_states(a: State, b: State) -> State:
    """The element-wise mean of two snapshots (integer buffers from ``b``)."""
    return {k: (a[k] + b[k]) / 2 if a[k].is_floating_point() else b[k].clone() for k in b}


def fp16_round_trip(state: State) -> State:
    """The weights as a float16 file would give them back, in float32."""
    return {k: v.half().float() if v.is_floating_point() else v for k, v in state.items()}


def save_model(model: Any, tokenizer: Any, output_dir: Path, scored: Scored, labels: Sequence[str], dtype: str) -> None:
    """Write the model (safetensors in ``dtype``), its tokenizer, and the validation figures in config.json."""
    model.config.thresholds = {name: round(float(t), 3) for name, t in zip(labels, scored.thresholds, strict=True)}
    model.config.val_macro_f1 = round(scored.tuned.macro_f1, 4)
    model.config.val_micro_f1 = round(scored.tuned.micro_f1, 4)
    model.config.val_per_label = {
        m.label: {
            "precision": round(m.precision, 4),
            "recall": round(m.recall, 4),
            "f1": round(m.f1, 4),
            "support": m.support,
        }
        for m in scored.tuned.per_label
    }
    output_dir.mkdir(parents=True, exist_ok=True)
    out = copy.deepcopy(model).half() if dtype == "float16" else model
    out.save_pretrained(str(output_dir), safe_serialization=True)
    tokenizer.save_pretrained(str(output_dir))
