"""Encoder-decoder text-to-text models (T5, BART): family ``seq2seq``.

Every operation is a prompt in, generated text out. The defaults are the
prompt formats of Backprop's ``kiri-ai/t5-base-qa-summary-emotion`` (from
Backprop's ``T5QASummaryEmotion``), which was trained on them:

- summary: ``"summarise: {text}"``, beam search (4 beams, no repeated 3-grams,
  early stopping), up to 200 new tokens;
- question answering: ``"q: {q} a: {a}"`` for each earlier turn, then
  ``"q: {question}"`` and ``"c: {context}"``, joined by spaces; greedy, up to
  96 new tokens;
- emotion: ``"emotion: {text}"``, greedy; the model writes comma-separated
  GoEmotions labels ("joy, optimism").

Options read from ``target.options`` (each replaces the default above):

``summarise_prefix``
    Text put before each input to summarise (plain T5 wants ``"summarize: "``).
``summarise_params`` / ``answer_params`` / ``emotion_params``
    Generation settings in the text-generation params vocabulary
    (``max_length`` counts new tokens, ``num_beams``, ...).
``answer_turn`` / ``answer_question``
    ``"q: {question} a: {answer}"`` for an earlier turn and
    ``"q: {question} c: {context}"`` for the one asked.
``emotion_prefix``
    ``"emotion: "``.
``emotion_labels``
    The labels the model can write; when given, each result lists them all
    (0.0 unless generated).
``max_input_tokens``
    Inputs are cut to this many tokens (default 512, T5's training length).
"""

from __future__ import annotations

from collections import defaultdict
from functools import partial
from typing import Any, ClassVar

from transformers import (
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from inference.backends.base import BackendError, LoadTarget
from inference.backends.generation import GenerativeBackend

SUMMARISE_PARAMS: dict[str, Any] = {
    "max_length": 200,
    "num_beams": 4,
    "no_repeat_ngram_size": 3,
    "early_stopping": True,
}
ANSWER_PARAMS: dict[str, Any] = {"max_length": 96}
EMOTION_PARAMS: dict[str, Any] = {"max_length": 32}


class Seq2SeqBackend(GenerativeBackend):
    """A text-to-text model: summaries, answers, emotions and text generation."""

    family: ClassVar[str] = "seq2seq"
    operations: ClassVar[frozenset[str]] = frozenset({"generate", "summarise", "answer", "emotion_scores"})
    # a T5 question prompt ends with its context: cut the end, keep the question
    truncation_side: ClassVar[str] = "right"

    def __init__(
        self,
        target: LoadTarget,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
    ) -> None:
        super().__init__(target, model, tokenizer)
        labels = list(target.options.get("emotion_labels", []))
        # generated labels are not known in advance: any label's threshold is 0.5
        self.thresholds: defaultdict[str, float] = defaultdict(partial(float, 0.5), dict.fromkeys(labels, 0.5))

    @classmethod
    def load(cls, target: LoadTarget) -> Seq2SeqBackend:
        """Load an ``AutoModelForSeq2SeqLM`` and its tokenizer from ``target.path``."""
        try:
            tokenizer = AutoTokenizer.from_pretrained(target.path, local_files_only=True)
            model = AutoModelForSeq2SeqLM.from_pretrained(target.path, dtype=target.dtype, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise BackendError(f"cannot load the text-to-text model at {target.path}: {exc}") from exc
        return cls(target, model, tokenizer)

    def max_input_tokens(self, max_new_tokens: int) -> int | None:
        return int(self.target.options.get("max_input_tokens", 512))

    def _first(self, texts: list[str], option: str, default: dict[str, Any]) -> list[str]:
        params = self.target.options.get(option, default)
        return [outputs.texts[0].strip() for outputs in self._run(texts, params)]

    def summarise(self, texts: list[str]) -> list[str]:
        """A summary of each text."""
        prefix = self.target.options.get("summarise_prefix", "summarise: ")
        return self._first([prefix + text for text in texts], "summarise_params", SUMMARISE_PARAMS)

    def answer(
        self,
        questions: list[str],
        contexts: list[str],
        histories: list[list[tuple[str, str]]],
    ) -> list[str]:
        """Answer each question about its context, after the earlier question-answer turns."""
        turn = self.target.options.get("answer_turn", "q: {question} a: {answer}")
        asked = self.target.options.get("answer_question", "q: {question} c: {context}")
        prompts = [
            " ".join(
                [
                    *(turn.format(question=q, answer=a) for q, a in history),
                    asked.format(question=question, context=context),
                ]
            )
            for question, context, history in zip(questions, contexts, histories, strict=True)
        ]
        return self._first(prompts, "answer_params", ANSWER_PARAMS)

    def emotion_scores(self, texts: list[str]) -> list[dict[str, float]]:
        """The labels the model writes for each text, each scored 1.0."""
        prefix = self.target.options.get("emotion_prefix", "emotion: ")
        known = list(self.target.options.get("emotion_labels", []))
        results = []
        for output in self._first([prefix + text for text in texts], "emotion_params", EMOTION_PARAMS):
            scores = dict.fromkeys(known, 0.0)
            scores.update((label.strip().lower(), 1.0) for label in output.split(",") if label.strip())
            results.append(scores)
        return results
