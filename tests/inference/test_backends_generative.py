"""The causal-lm and seq2seq backends on tiny GPT-2 / T5 models and the bundled SmolLM2.

Runs without Django: ``pytest tests/inference/test_backends_generative.py -p no:django``.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from inference.backends.base import BackendError, LoadTarget
from inference.backends.causal_lm import CausalLMBackend
from inference.backends.gguf import converted_gguf_folder
from inference.backends.seq2seq import Seq2SeqBackend
from tests.tinymodels import TINY_GPT2_POSITIONS, build_tiny_gpt2, build_tiny_t5

CPU = torch.device("cpu")


def _params(**overrides: Any) -> dict[str, Any]:
    """Backprop's text-generation defaults, with ``overrides``."""
    params: dict[str, Any] = {
        "min_length": 0,
        "max_length": 12,
        "temperature": 1.0,
        "top_k": 0,
        "top_p": 1.0,
        "repetition_penalty": 1.0,
        "length_penalty": 1.0,
        "num_beams": 1,
        "num_generations": 1,
        "do_sample": False,
        "seed": None,
        "stop": [],
    }
    params.update(overrides)
    return params


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory: pytest.TempPathFactory) -> CausalLMBackend:
    path = build_tiny_gpt2(tmp_path_factory.mktemp("tiny-gpt2"))
    return CausalLMBackend.load(LoadTarget(model_id="tiny-gpt2", path=path, device=CPU))


@pytest.fixture(scope="module")
def t5(tmp_path_factory: pytest.TempPathFactory) -> Seq2SeqBackend:
    path = build_tiny_t5(tmp_path_factory.mktemp("tiny-t5"))
    return Seq2SeqBackend.load(LoadTarget(model_id="tiny-t5", path=path, device=CPU))


# --- tiny GPT-2 ---------------------------------------------------------------


def test_batch_of_prompts_gives_each_its_generations(gpt2: CausalLMBackend) -> None:
    params = _params(do_sample=True, num_generations=2, min_length=3, max_length=6)
    outputs = gpt2.generate(["Once upon a time", "The weather today"], params)
    assert len(outputs) == 2
    assert all(len(generations) == 2 for generations in outputs)
    assert all(isinstance(text, str) and text for gens in outputs for text in gens)
    # new text only: the prompt is not repeated
    assert not any(text.startswith("Once upon a time") for text in outputs[0])


def test_greedy_with_several_generations_uses_beams(gpt2: CausalLMBackend) -> None:
    outputs = gpt2.generate(["Once upon"], _params(num_generations=3, max_length=5))
    assert len(outputs[0]) == 3


def test_seed_makes_sampling_reproducible(gpt2: CausalLMBackend) -> None:
    prompts = ["Once upon a time", "Paris is"]
    params = _params(do_sample=True, min_length=10, max_length=10, seed=1234)
    first = gpt2.generate(prompts, params)
    assert gpt2.generate(prompts, params) == first
    # the same job alone or batched with another gives the same text
    assert gpt2.generate(prompts[:1], params) == first[:1]
    assert gpt2.generate(prompts, {**params, "seed": 99}) != first


def test_max_length_bounds_new_tokens(gpt2: CausalLMBackend) -> None:
    def text(length: int) -> str:
        params = _params(min_length=length, max_length=length)
        return gpt2.generate(["The fox"], params)[0][0]

    short, long = text(3), text(15)
    assert long.startswith(short)
    assert len(short) < len(long)
    token_ids = gpt2.tokenizer(short, add_special_tokens=False).input_ids
    assert len(token_ids) <= 3


def _sampled(backend: CausalLMBackend, **overrides: Any) -> dict[str, Any]:
    """Seeded sampling of 20 tokens: varied text (greedy repeats itself on random weights)."""
    return _params(do_sample=True, seed=7, min_length=20, max_length=20, **overrides)


def _later_stop(full: str) -> str:
    """A 2-character stop string whose first occurrence is not at the start of ``full``."""
    return next(
        full[i : i + 2] for i in range(3, len(full) - 1) if full[i : i + 2].strip() and full.index(full[i : i + 2]) == i
    )


def test_stop_string_cuts_output(gpt2: CausalLMBackend) -> None:
    full = gpt2.generate(["Once upon a time"], _sampled(gpt2))[0][0]
    stop = _later_stop(full)
    cut = gpt2.generate(["Once upon a time"], _sampled(gpt2, stop=[stop]))[0][0]
    assert cut == full[: full.index(stop)]
    assert cut


def test_streaming_reports_growing_text(gpt2: CausalLMBackend) -> None:
    seen: list[tuple[int, int, str]] = []
    result = gpt2.generate(
        ["Once upon a time"],
        _sampled(gpt2),
        on_text=lambda p, g, t: seen.append((p, g, t)),
    )
    texts = [text for _, _, text in seen]
    assert len(texts) >= 2
    assert all((p, g) == (0, 0) for p, g, _ in seen)
    assert all(later.startswith(earlier) for earlier, later in zip(texts, texts[1:], strict=False))
    assert len(texts[-1]) > len(texts[0])
    assert texts[-1] == result[0][0]
    # streaming changes nothing about the result
    assert gpt2.generate(["Once upon a time"], _sampled(gpt2)) == result


def test_streaming_holds_back_a_stop_string(gpt2: CausalLMBackend) -> None:
    full = gpt2.generate(["Once upon a time"], _sampled(gpt2))[0][0]
    stop = _later_stop(full)
    seen: list[str] = []
    result = gpt2.generate(
        ["Once upon a time"],
        _sampled(gpt2, stop=[stop]),
        on_text=lambda p, g, t: seen.append(t),
    )
    assert all(stop not in text for text in seen)
    assert seen[-1] == result[0][0] == full[: full.index(stop)]


def test_empty_prompt_and_plain_answers(gpt2: CausalLMBackend) -> None:
    assert len(gpt2.generate([""], _params(max_length=4))[0]) == 1
    assert gpt2.tokenizer.chat_template is None  # so answer/summarise use plain prompts
    answers = gpt2.answer(["Who?"], ["The teacher wrote it."], [[("What?", "A letter.")]])
    summaries = gpt2.summarise(["The fox ran.", "The cat slept."])
    assert all(isinstance(text, str) for text in [*answers, *summaries])
    assert len(summaries) == 2


def test_too_long_max_length_is_a_backend_error(gpt2: CausalLMBackend) -> None:
    with pytest.raises(BackendError):
        gpt2.generate(["hi"], _params(max_length=TINY_GPT2_POSITIONS))  # no room left for the prompt


# --- tiny T5 -----------------------------------------------------------------


def test_t5_operations_return_strings(t5: Seq2SeqBackend) -> None:
    summaries = t5.summarise(["The fox ran through the forest.", "Paris is big."])
    answers = t5.answer(
        ["Who lived there?"],
        ["An old woman lived in the house."],
        [[("Where?", "In the forest.")]],
    )
    assert len(summaries) == 2 and len(answers) == 1
    assert all(isinstance(text, str) for text in [*summaries, *answers])


def test_t5_emotion_and_generate(t5: Seq2SeqBackend) -> None:
    scores = t5.emotion_scores(["I am so happy today!"])
    assert len(scores) == 1
    assert all(value == 1.0 for value in scores[0].values())
    assert t5.thresholds["joy"] == 0.5
    outputs = t5.generate(["The fox"], _params(num_generations=2, max_length=5))
    assert len(outputs) == 1 and len(outputs[0]) == 2


# --- bundled SmolLM2-135M-Instruct (GGUF) --------------------------------------

COMMON_WORDS = {
    "the", "a", "and", "of", "to", "in", "was", "he", "she", "it", "there",
    "they", "his", "her", "with", "that", "who", "on", "for", "had", "is",
}  # fmt: skip


@pytest.fixture(scope="module")
def smollm2_target(tmp_path_factory: pytest.TempPathFactory) -> LoadTarget:
    """SmolLM2 as the catalog loads it; the conversion cache is MODEL_CACHE_DIR when set."""
    from inference.backends.bundled import BundledFileMissing, smollm2_gguf

    try:
        gguf = smollm2_gguf()
    except BundledFileMissing as exc:
        pytest.skip(str(exc))
    cache = os.environ.get("MODEL_CACHE_DIR")
    return LoadTarget(
        model_id="smollm2-135m-instruct",
        path=gguf.parent,
        device=CPU,
        options={"gguf_file": gguf.name},
        cache_dir=Path(cache) if cache else tmp_path_factory.mktemp("model-cache"),
    )


@pytest.fixture(scope="module")
def smollm2(smollm2_target: LoadTarget) -> CausalLMBackend:
    assert smollm2_target.cache_dir is not None
    gguf = smollm2_target.path / smollm2_target.options["gguf_file"]
    converted = not any((smollm2_target.cache_dir / "gguf").glob(f"{gguf.stem}-*/config.json"))
    started = time.perf_counter()
    first = CausalLMBackend.load(smollm2_target)
    first_seconds = time.perf_counter() - started
    del first
    started = time.perf_counter()
    backend = CausalLMBackend.load(smollm2_target)
    cached_seconds = time.perf_counter() - started
    how = "converting the GGUF file" if converted else "already converted"
    print(f"\nSmolLM2 load: first {first_seconds:.1f} s ({how}), then {cached_seconds:.1f} s from the cache")
    return backend


@pytest.mark.bundled
def test_smollm2_continues_a_story_in_english(smollm2: CausalLMBackend) -> None:
    text = smollm2.generate(["Once upon a time"], _params(max_length=40))[0][0]
    print(f"\nOnce upon a time{text}")
    letters = sum(char.isascii() and (char.isalpha() or char.isspace()) for char in text)
    assert letters / max(len(text), 1) > 0.8
    words = set(re.findall(r"[a-z]+", text.lower()))
    assert len(words & COMMON_WORDS) >= 3
    assert "<|im_start|>" not in text and "assistant" not in text.lower()


@pytest.mark.bundled
def test_smollm2_answers_from_the_context(smollm2: CausalLMBackend) -> None:
    context = "Marie lives in Paris. She works as a baker and has two cats."
    answers = smollm2.answer(["Where does Marie live?"], [context], [[]])
    print(f"\nanswer: {answers[0]!r}")
    assert "paris" in answers[0].lower()


@pytest.mark.bundled
def test_smollm2_cache_is_one_folder_without_the_gguf_copy(
    smollm2: CausalLMBackend, smollm2_target: LoadTarget
) -> None:
    assert smollm2_target.cache_dir is not None
    gguf = smollm2_target.path / smollm2_target.options["gguf_file"]
    folder = converted_gguf_folder(gguf, smollm2_target.cache_dir)  # already there: returns at once
    assert (folder / "model.safetensors").is_file()
    assert not (folder / "tokenizer.model").exists()  # transformers copies the whole GGUF there
    assert not list(folder.parent.glob(f".{folder.name}.tmp-*"))


def test_missing_gguf_file_is_a_backend_error(tmp_path: Path) -> None:
    target = LoadTarget(
        model_id="missing",
        path=tmp_path,
        device=CPU,
        options={"gguf_file": "absent.gguf"},
        cache_dir=tmp_path / "cache",
    )
    with pytest.raises(BackendError):
        CausalLMBackend.load(target)
