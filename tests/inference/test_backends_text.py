"""Text model families: tiny random models for the contract, bundled MiniLM for quality."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from transformers import BertModel, pipeline

from inference.backends.base import BackendError, LoadTarget
from inference.backends.bundled import minilm_dir
from inference.backends.extractive_qa import ExtractiveQABackend
from inference.backends.nli import NliZeroShotBackend
from inference.backends.sentence_encoder import SentenceEncoderBackend
from inference.backends.sequence_classifier import SequenceClassifierBackend
from tests.tinymodels import (
    build_tiny_bert_classifier,
    build_tiny_extractive_qa,
    build_tiny_nli,
    build_tiny_sentence_encoder,
)

CPU = torch.device("cpu")
EMOTIONS = ["joy", "anger", "fear", "sadness"]
TEXTS = [
    "I finally passed my driving test!",
    "Why does the bus never come on time?",
    " ".join(["The storm kept everyone awake all night."] * 60),  # past 128 tokens
]
LONG_CONTEXT = " ".join(
    f"Room {n} of the old museum holds paintings from the year {1800 + n}."
    for n in range(40)
)


def target(path: Path, **options: object) -> LoadTarget:
    return LoadTarget(model_id=path.name, path=path, device=CPU, options=dict(options))


def norm(vector: list[float]) -> float:
    return math.sqrt(sum(x * x for x in vector))


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny")
    build_tiny_sentence_encoder(root / "encoder")
    build_tiny_bert_classifier(
        root / "emotion", EMOTIONS, thresholds={"joy": 0.3, "fear": 0.7}
    )
    build_tiny_bert_classifier(root / "emotion-mean", EMOTIONS, pooling="mean")
    build_tiny_bert_classifier(
        root / "sentiment", ["negative", "positive"], multi_label=False
    )
    build_tiny_nli(root / "nli")
    build_tiny_extractive_qa(root / "qa")
    return root


# --- sentence encoder ------------------------------------------------------


def test_sentence_encoder_embeds_a_batch_as_unit_vectors(models: Path) -> None:
    backend = SentenceEncoderBackend.load(target(models / "encoder"))
    vectors = backend.embed_texts(TEXTS)
    assert len(vectors) == 3
    assert {len(v) for v in vectors} == {32}
    assert all(abs(norm(v) - 1.0) < 1e-5 for v in vectors)
    assert backend.max_length == 128
    assert backend.embed_texts([]) == []


def test_sentence_encoder_embedding_does_not_depend_on_the_batch(models: Path) -> None:
    backend = SentenceEncoderBackend.load(target(models / "encoder", batch_size=2))
    alone = backend.embed_texts([TEXTS[0]])[0]
    padded = backend.embed_texts(TEXTS)[0]  # padded to the long text's length
    assert max(abs(a - b) for a, b in zip(alone, padded, strict=True)) < 1e-5


@pytest.fixture
def one_thread_per_operation():
    """torch as make run's worker runs it (TORCH_THREADS=1): length groups then run side by side."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_length_groups_run_side_by_side_each_text_keeping_its_own_vector(models: Path,
                                                                          one_thread_per_operation) -> None:
    from inference.backends.text import group_runners

    if group_runners() is None:
        pytest.skip("one core: the groups run one after another")
    backend = SentenceEncoderBackend.load(target(models / "encoder", batch_size=4))
    texts = [" ".join(["word"] * (1 + (i * 7) % 40)) + f" number {i}" for i in range(23)]  # many lengths
    together = backend.embed_texts(texts)
    for text, vector in zip(texts, together, strict=True):
        alone = backend.embed_texts([text])[0]
        assert max(abs(a - b) for a, b in zip(alone, vector, strict=True)) < 1e-5


def test_groups_are_shared_evenly_by_the_runners() -> None:
    from inference.backends.text import _balanced

    lengths = [10] * 12 + [40]
    groups = [list(range(12)), [12]]  # one group of 12 short rows (cost 120), one long row (40)
    balanced = _balanced(groups, lengths, 2)
    assert sorted(i for group in balanced for i in group) == list(range(13))
    costs = [len(group) * max(lengths[i] for i in group) for group in balanced]
    assert max(costs) <= 80 and costs == sorted(costs, reverse=True)  # largest first, none past a share


def test_sentence_encoder_zero_shot_gives_a_distribution_per_text(models: Path) -> None:
    backend = SentenceEncoderBackend.load(target(models / "encoder"))
    labels = [
        ["sports", "politics"],
        ["travel", "music", "weather"],
        ["calm", "storm", "calm"],
    ]
    scores = backend.text_label_scores(TEXTS, labels)
    assert [list(s) for s in scores] == [labels[0], labels[1], ["calm", "storm"]]
    assert all(abs(sum(s.values()) - 1.0) < 1e-5 for s in scores)
    with pytest.raises(BackendError):
        backend.text_label_scores(TEXTS[:1], [[]])


def test_sentence_encoder_reports_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(BackendError):
        SentenceEncoderBackend.load(target(tmp_path / "absent"))


# --- sequence classifier ---------------------------------------------------


def test_multi_label_classifier_gives_independent_probabilities(models: Path) -> None:
    backend = SequenceClassifierBackend.load(target(models / "emotion"))
    scores = backend.emotion_scores(TEXTS)
    assert len(scores) == 3
    assert all(list(s) == EMOTIONS for s in scores)
    assert all(0.0 < p < 1.0 for s in scores for p in s.values())
    assert backend.thresholds == {"joy": 0.3, "anger": 0.5, "fear": 0.7, "sadness": 0.5}


def test_single_label_classifier_gives_a_distribution(models: Path) -> None:
    backend = SequenceClassifierBackend.load(target(models / "sentiment"))
    scores = backend.emotion_scores(TEXTS)
    assert all(abs(sum(s.values()) - 1.0) < 1e-5 for s in scores)
    assert backend.thresholds == {"negative": 0.5, "positive": 0.5}


def test_mean_pooling_classifier_applies_the_head_to_the_mean_hidden_state(
    models: Path,
) -> None:
    path = models / "emotion-mean"
    backend = SequenceClassifierBackend.load(target(path, batch_size=2))
    scores = backend.emotion_scores(TEXTS)

    # Reference: the same weights read as a bare BertModel, pooled by hand.
    encoder = BertModel.from_pretrained(path, local_files_only=True).eval()
    head = backend.model.classifier
    with torch.inference_mode():
        for text, got in zip(TEXTS, scores, strict=True):
            batch = backend.tokenizer(
                text, truncation=True, max_length=128, return_tensors="pt"
            )
            hidden = encoder(**batch).last_hidden_state[0]
            expected = torch.sigmoid(head(hidden.mean(dim=0))).tolist()
            assert list(got.values()) == pytest.approx(expected, abs=1e-5)

    # The same weights through the [CLS] pooler give other scores.
    cls_scores = SequenceClassifierBackend.load(
        target(models / "emotion")
    ).emotion_scores(TEXTS)
    assert cls_scores[0] != pytest.approx(scores[0], abs=1e-4)


# --- NLI zero-shot ---------------------------------------------------------


def test_nli_zero_shot_matches_the_transformers_pipeline(models: Path) -> None:
    backend = NliZeroShotBackend.load(target(models / "nli", batch_size=4))
    labels = [["sports", "politics", "cooking"], ["travel", "music"], ["calm", "storm"]]
    scores = backend.text_label_scores(TEXTS, labels)
    assert all(list(s) == ls for s, ls in zip(scores, labels, strict=True))
    assert all(abs(sum(s.values()) - 1.0) < 1e-5 for s in scores)

    reference = pipeline(
        "zero-shot-classification", model=str(models / "nli"), device="cpu"
    )
    for text, label_list, got in zip(TEXTS, labels, scores, strict=True):
        out = reference(
            text, candidate_labels=label_list, hypothesis_template="This example is {}."
        )
        expected = dict(zip(out["labels"], out["scores"], strict=True))
        assert got == pytest.approx(expected, abs=1e-4)


# --- extractive QA ---------------------------------------------------------


def test_extractive_qa_answers_with_spans_of_the_contexts(models: Path) -> None:
    backend = ExtractiveQABackend.load(target(models / "qa", batch_size=3))
    questions = [
        "Who won?",
        "Which room holds paintings from 1835?",
        "And the year after?",
    ]
    contexts = [
        "Spain beat England in the final, scoring twice in extra time.",
        LONG_CONTEXT,  # longer than one 128-token window
        "The bridge opened in 1932 and was widened in 1933.",
    ]
    histories = [[], [], [("When did the bridge open?", "1932")]]
    answers = backend.answer(questions, contexts, histories)
    assert len(answers) == 3
    for answer, context in zip(answers, contexts, strict=True):
        assert answer
        assert answer in context
        assert (
            len(backend.tokenizer(answer, add_special_tokens=False)["input_ids"]) <= 30
        )
    assert backend.answer(["Anything?"], [""], [[]]) == [""]


def test_extractive_qa_prepends_the_latest_history_that_fits(models: Path) -> None:
    backend = ExtractiveQABackend.load(target(models / "qa"))
    history = [("What is the capital of France?", "Paris"), ("How big is it?", "Large")]
    assert backend.full_question("Is it old?", history) == (
        "What is the capital of France? Paris How big is it? Large Is it old?"
    )
    long_history = [(" ".join(["word"] * 40), "answer")] + history[1:]
    assert (
        backend.full_question("Is it old?", long_history)
        == "How big is it? Large Is it old?"
    )


# --- the bundled all-MiniLM-L6-v2 -------------------------------------------


@pytest.fixture(scope="module")
def minilm() -> SentenceEncoderBackend:
    return SentenceEncoderBackend.load(
        LoadTarget(model_id="all-MiniLM-L6-v2", path=minilm_dir(), device=CPU)
    )


@pytest.mark.bundled
def test_minilm_puts_paraphrases_closer_than_an_unrelated_sentence(
    minilm: SentenceEncoderBackend,
) -> None:
    cat, kitten, bond = minilm.embed_texts(
        [
            "A cat is sleeping on the sofa.",
            "A kitten naps on the couch.",
            "The central bank raised interest rates again.",
        ]
    )

    def cosine(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert cosine(cat, kitten) > cosine(cat, bond) + 0.3


@pytest.mark.bundled
def test_minilm_zero_shot_puts_a_football_final_under_sports(
    minilm: SentenceEncoderBackend,
) -> None:
    labels = ["sports", "politics", "technology", "cooking"]
    texts = [
        "Spain beat England 2-1 in a thrilling football final on Sunday night.",
        "The home side scored twice in extra time to win the football cup final.",
    ]
    for scores in minilm.text_label_scores(texts, [labels, labels]):
        assert max(scores, key=scores.__getitem__) == "sports"
        assert abs(sum(scores.values()) - 1.0) < 1e-5
