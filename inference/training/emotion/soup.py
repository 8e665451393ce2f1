"""A weight average ("model soup") of fine-tuning runs that share their start, chosen on the validation slice.

Runs that start from the same weights (the same ``seed``: pretrained encoder
and head initialisation) and differ only in the order of their batches and
their dropout (``order_seed``) stay close enough that the element-wise mean of
their weights is itself a good model, usually better than any of them, at the
cost of one model (Wortsman et al. 2022, "Model soups"). Measured here on
GoEmotions' validation slice: two MiniLM runs after one epoch scored macro-F1
0.4806 and 0.4772, their mean 0.4906 (their averaged predictions: 0.4933).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from .checkpoint import State, save_model
from .data import read_labels, read_tsv
from .evaluate import Scored, tune_and_score, validation_slice
from .model import load_model
from .train import ProgressFn, TrainResult, _fmt_secs, _record, choose_dtype, train, write_history

THRESHOLD_BOOTSTRAP = 30
"""The soup's stored thresholds: the mean of the F1-maximising thresholds of 30 resamples of the validation slice.

Measured by split halves of the slice (tune on one half, score the other, 10 splits both ways): +0.004 to
+0.011 macro-F1 over the plain F1-maximising thresholds for each of the four members, their soups and their
ensemble (the greedy soup 0.4791 -> 0.4830)."""

SHARED_RECIPE = ("seed", "val_fraction", "limit", "source_rows", "max_tokens", "pooling", "base_model")
"""What every member must share: the starting weights and the validation slice (``base_model`` is the config's)."""


def _member_state(member_dir: Path) -> State:
    return {k: v.float() for k, v in load_file(str(member_dir / "model.safetensors")).items()}


def _mean(states: Sequence[State]) -> State:
    return {k: torch.stack([s[k] for s in states]).mean(0) for k in states[0]}


def _recipe(config: Any) -> dict[str, Any]:
    hyper = dict(getattr(config, "training", None) or {})
    hyper["base_model"] = getattr(config, "base_model", None)
    return hyper


def soup(
    member_dirs: Sequence[str | Path],
    data_dir: str | Path,
    output_dir: str | Path,
    *,
    greedy: bool = True,
    save_dtype: str = "auto",
    num_threads: int | None = 2,
    progress: ProgressFn | None = print,
) -> TrainResult:
    """Average the weights of trained members into ``output_dir``, tuning its thresholds on the validation slice.

    Members are folders written by :func:`~.train.train` that share the
    recipe's ``seed``, validation slice and token limit (else ``ValueError``:
    their mean would not be a model, or their slices would differ). With
    ``greedy`` (Wortsman et al.'s greedy soup) members are taken best first
    and each is kept only if the mean with it scores at least as well on the
    validation slice; otherwise all are averaged. ``dev.tsv`` is not read.
    """
    log: ProgressFn = progress or (lambda _msg: None)
    if save_dtype not in ("auto", "float16", "float32"):
        raise ValueError(f"save_dtype must be 'auto', 'float16' or 'float32', not {save_dtype!r}")
    dirs = [Path(d) for d in member_dirs]
    if not dirs:
        raise ValueError("a soup needs at least one member")
    if num_threads:
        torch.set_num_threads(num_threads)
    start = time.monotonic()
    model, tokenizer = load_model(dirs[0])
    recipes = [_recipe(_config(d)) for d in dirs]
    for d, recipe in zip(dirs[1:], recipes[1:], strict=True):
        differs = [k for k in SHARED_RECIPE if recipe.get(k) != recipes[0].get(k)]
        if differs:
            raise ValueError(f"{d} does not share {', '.join(differs)} with {dirs[0]}: its weights cannot be averaged")
    hyper = recipes[0]
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    data_dir = Path(data_dir)
    if read_labels(data_dir) != labels:
        raise ValueError(f"{data_dir / 'labels.txt'} does not list the members' labels")
    rows = read_tsv(data_dir / "train.tsv", limit=hyper.get("limit"))
    if len(rows) != hyper.get("source_rows", len(rows)):
        raise ValueError(f"train.tsv has {len(rows)} rows where the members read {hyper['source_rows']}")
    _, val_ex = validation_slice(rows, len(labels), float(hyper["val_fraction"]), int(hyper["seed"]))
    max_tokens = hyper.get("max_tokens")

    def score(states: list[State]) -> Scored:
        model.load_state_dict(_mean(states))
        return tune_and_score(model, tokenizer, val_ex, labels, max_tokens)

    history: list[dict[str, Any]] = []
    members: list[tuple[Scored, Path, State]] = []
    for d in dirs:
        state = _member_state(d)
        scored = score([state])
        history.append(_record(f"member {d.name}", scored))
        log(f"member {d.name}: val macro_f1={scored.tuned.macro_f1:.4f}")
        members.append((scored, d, state))
    members.sort(key=lambda m: -m[0].tuned.macro_f1)
    if greedy:
        kept, best = members[:1], members[0][0]
        for candidate in members[1:]:
            trial_members = [*kept, candidate]
            trial = score([m[2] for m in trial_members])
            names = "+".join(m[1].name for m in trial_members)
            history.append(_record(f"mean of {names}", trial))
            better = trial.tuned.macro_f1 >= best.tuned.macro_f1
            verdict = "kept" if better else "left out"
            log(f"mean of {names}: val macro_f1={trial.tuned.macro_f1:.4f} ({candidate[1].name} {verdict})")
            if better:
                kept, best = trial_members, trial
    else:
        kept = members
        history.append(_record("mean of all", score([m[2] for m in kept])))
    state = _mean([m[2] for m in kept])
    model.load_state_dict(state)
    best = tune_and_score(model, tokenizer, val_ex, labels, max_tokens, bootstrap=THRESHOLD_BOOTSTRAP)
    log(f"thresholds from {THRESHOLD_BOOTSTRAP} resamples: val macro_f1={best.tuned.macro_f1:.4f}")
    dtype, best = choose_dtype(
        model, tokenizer, state, best, val_ex, labels, max_tokens, save_dtype, log, bootstrap=THRESHOLD_BOOTSTRAP
    )
    order_seeds = {d: recipe.get("order_seed") for d, recipe in zip(dirs, recipes, strict=True)}
    model.config.training = {
        **{k: v for k, v in hyper.items() if k != "base_model"},
        "order_seed": None,
        "threshold_bootstrap": THRESHOLD_BOOTSTRAP,
        "soup": {
            "greedy": greedy,
            "members": [
                {"name": d.name, "order_seed": order_seeds[d], "val_macro_f1": round(scored.tuned.macro_f1, 4)}
                for scored, d, _ in members
            ],
            "kept": [m[1].name for m in kept],
        },
    }
    model.config.best_epoch, model.config.averaged_epochs = None, None
    save_model(model, tokenizer, Path(output_dir), best, labels, dtype)
    history.append(_record(f"stored (mean of {len(kept)}, {dtype})", best))
    write_history(Path(output_dir), history)
    wall = time.monotonic() - start
    log(f"soup of {len(kept)} of {len(members)} in {_fmt_secs(wall)}, {dtype}: val macro_f1={best.tuned.macro_f1:.4f}")
    return TrainResult(
        Path(output_dir),
        0,
        best.tuned.macro_f1,
        best.tuned.micro_f1,
        dict(model.config.thresholds),
        None,
        dtype,
        history,
        wall,
        [m[1].name for m in kept],
    )


def _config(model_dir: Path) -> Any:
    from transformers import AutoConfig  # lazily: its import is slow

    return AutoConfig.from_pretrained(str(model_dir))


def train_soup(
    data_dir: str | Path,
    output_dir: str | Path,
    members_dir: str | Path,
    *,
    members: int = 4,
    first_order_seed: int = 1,
    greedy: bool = True,
    save_dtype: str = "auto",
    progress: ProgressFn | None = print,
    **train_kwargs: Any,
) -> TrainResult:
    """Train ``members`` runs (``order_seed`` ``first_order_seed``, +1, ...) into ``members_dir``, then :func:`soup`.

    A member whose folder already holds a finished run (its
    ``training_history.json`` ends with the stored model) is not trained
    again, so an interrupted command resumes where it stopped; members can
    also be trained side by side by separate commands on the same folder.
    Members train every epoch and keep their last weights (``keep="last"``):
    runs stopped early at different points of their schedule averaged worse
    (two runs stopped at epochs 2 and 4: mean 0.5102 against 0.5122 for the
    better alone).
    """
    if members < 1:
        raise ValueError("members must be at least 1")
    log: ProgressFn = progress or (lambda _msg: None)
    members_dir = Path(members_dir)
    dirs = []
    for k in range(members):
        order_seed = first_order_seed + k
        member_dir = members_dir / f"order-{order_seed}"
        dirs.append(member_dir)
        if _finished(member_dir):
            _check_same_recipe(member_dir, {**train_kwargs, "keep": "last"})
            log(f"member order-{order_seed}: already trained in {member_dir}")
            continue
        log(f"member {k + 1}/{members}: order_seed={order_seed} -> {member_dir}")
        train(
            data_dir,
            member_dir,
            order_seed=order_seed,
            keep="last",
            save_dtype="float32",
            progress=progress,
            **train_kwargs,
        )
    return soup(
        dirs,
        data_dir,
        output_dir,
        greedy=greedy,
        save_dtype=save_dtype,
        num_threads=train_kwargs.get("num_threads", 2),
        progress=progress,
    )


_NOT_RECIPE = ("num_threads", "log_every", "progress", "base_model", "patience")
"""``train`` arguments not compared on resume (``patience``: members do not stop early; ``base_model``: :func:`soup`
compares the configs' own)."""


def _check_same_recipe(member_dir: Path, train_kwargs: dict[str, Any]) -> None:
    """Raise ``ValueError`` if the finished member in ``member_dir`` was trained with other arguments than these."""
    stored = _recipe(_config(member_dir))
    differs = [
        f"{k}={stored[k]!r} (asked {v!r})"
        for k, v in train_kwargs.items()
        if k not in _NOT_RECIPE and k in stored and stored[k] != v
    ]
    if differs:
        raise ValueError(
            f"{member_dir} holds a run trained with {', '.join(differs)}: "
            "give another --members-dir, or remove it to train it again"
        )


def _finished(member_dir: Path) -> bool:
    history = member_dir / "training_history.json"
    if not history.is_file() or not (member_dir / "model.safetensors").is_file():
        return False
    entries = json.loads(history.read_text(encoding="utf-8"))
    return bool(entries) and str(entries[-1].get("epoch", "")).startswith("stored")
