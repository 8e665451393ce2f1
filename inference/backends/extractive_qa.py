"""Extractive question answering: the answer is a span of the context.

An ``AutoModelForQuestionAnswering`` scores every token as the start and the
end of the answer. The best span has start <= end, at most
``max_answer_tokens`` tokens, and lies inside the context. A context longer
than the model accepts is cut into overlapping windows (the question is
repeated in each, ``truncation="only_second"`` with a stride) and the best span
over all windows wins. The answer is the context's own text between the
span's character offsets, so it is always a substring of the context.

Conversation history (Backprop's ``prev_q`` / ``prev_a``): the previous turns
are written before the question, oldest first, as plain text,
``"{q1} {a1} {q2} {a2} {question}"``. Models are trained on a single
question, so history is kept short: the oldest turns are dropped until the
whole question fits in ``max_question_tokens`` tokens; a current question
longer than that on its own is truncated.

Catalog ``options`` read here: ``max_length`` (int, default 384, tokens per
window), ``doc_stride`` (int, overlap of windows), ``max_answer_tokens``
(int, default 30), ``max_question_tokens`` (int, default 64) and
``batch_size`` (int, windows per forward pass).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import AutoModelForQuestionAnswering, PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase

from inference.backends.base import BackendError, LoadTarget
from inference.backends.text import TextModelBackend

DEFAULT_MAX_LENGTH = 384
DEFAULT_MAX_ANSWER_TOKENS = 30
DEFAULT_MAX_QUESTION_TOKENS = 64
DEFAULT_DOC_STRIDE = 128
DEFAULT_BATCH_SIZE = 16


class ExtractiveQABackend(TextModelBackend):
    """Answers a question with the best-scoring span of its context (``answer``)."""

    family = "extractive-qa"
    operations = frozenset({"answer"})
    auto_class = AutoModelForQuestionAnswering
    default_max_length = DEFAULT_MAX_LENGTH

    def __init__(self, target: LoadTarget, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                 config: PretrainedConfig, max_length: int) -> None:
        if not tokenizer.is_fast:
            raise BackendError("extractive QA needs a fast tokenizer (character offsets)")
        super().__init__(target, model, tokenizer, config, max_length)
        options = target.options
        # Question and stride each take at most a quarter / a third of a window,
        # so every window keeps room for new context (the tokenizer needs that).
        self.max_question_tokens = min(
            int(options.get("max_question_tokens", DEFAULT_MAX_QUESTION_TOKENS)),
            max_length // 4,
        )
        self.doc_stride = min(
            int(options.get("doc_stride", DEFAULT_DOC_STRIDE)), max_length // 3
        )
        self.max_answer_tokens = int(
            options.get("max_answer_tokens", DEFAULT_MAX_ANSWER_TOKENS)
        )
        self.batch_size = int(options.get("batch_size", DEFAULT_BATCH_SIZE))

    def _token_count(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def full_question(self, question: str, history: Sequence[tuple[str, str]]) -> str:
        """The question with as many of the latest previous turns as fit, oldest first."""
        if self._token_count(question) > self.max_question_tokens:
            ids = self.tokenizer(question, add_special_tokens=False)["input_ids"]
            return self.tokenizer.decode(ids[: self.max_question_tokens])
        turns: list[str] = []
        for prev_question, prev_answer in reversed(list(history)):
            turn = f"{prev_question} {prev_answer}".strip()
            candidate = " ".join([turn, *turns, question])
            if self._token_count(candidate) > self.max_question_tokens:
                break
            turns.insert(0, turn)
        return " ".join([*turns, question])

    @torch.inference_mode()
    def _span_logits(
        self, encoded: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        starts: list[torch.Tensor] = []
        ends: list[torch.Tensor] = []
        count = encoded["input_ids"].shape[0]
        for first in range(0, count, self.batch_size):
            batch = {
                key: value[first : first + self.batch_size].to(self.target.device)
                for key, value in encoded.items()
            }
            outputs = self.model(**batch)
            starts.append(outputs.start_logits.to(torch.float32).cpu())
            ends.append(outputs.end_logits.to(torch.float32).cpu())
        return torch.cat(starts), torch.cat(ends)

    def answer(
        self,
        questions: Sequence[str],
        contexts: Sequence[str],
        histories: Sequence[Sequence[tuple[str, str]]],
    ) -> list[str]:
        """For each question, the best span of its context (``""`` for an empty context)."""
        if not len(questions) == len(contexts) == len(histories):
            raise BackendError(
                "questions, contexts and histories must have the same length"
            )
        answers = [""] * len(questions)
        todo = [i for i, context in enumerate(contexts) if context.strip()]
        if not todo:
            return answers
        full = [self.full_question(questions[i], histories[i]) for i in todo]
        encoding = self.tokenizer(
            full,
            [contexts[i] for i in todo],
            truncation="only_second",
            max_length=self.max_length,
            stride=self.doc_stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            padding=True,
            return_tensors="pt",
        )
        model_inputs = {
            key: encoding[key]
            for key in ("input_ids", "attention_mask", "token_type_ids")
            if key in encoding
        }
        start_logits, end_logits = self._span_logits(model_inputs)
        best: dict[int, tuple[float, int, int]] = {}
        for feature, sample in enumerate(
            encoding["overflow_to_sample_mapping"].tolist()
        ):
            in_context = torch.tensor(
                [sequence == 1 for sequence in encoding.sequence_ids(feature)],
                dtype=torch.bool,
            )
            span = self._best_span(
                start_logits[feature], end_logits[feature], in_context
            )
            if span is None:
                continue
            score, start, end = span
            if sample not in best or score > best[sample][0]:
                offsets = encoding["offset_mapping"][feature]
                best[sample] = (score, int(offsets[start][0]), int(offsets[end][1]))
        for sample, (_, first_char, last_char) in best.items():
            index = todo[sample]
            answers[index] = contexts[index][first_char:last_char].strip()
        return answers

    def _best_span(
        self, start: torch.Tensor, end: torch.Tensor, in_context: torch.Tensor
    ) -> tuple[float, int, int] | None:
        """The highest start + end score over valid spans of one window, or None."""
        if not bool(in_context.any()):
            return None
        scores = start[:, None] + end[None, :]
        length = start.shape[0]
        positions = torch.arange(length)
        gap = positions[None, :] - positions[:, None]  # end - start
        valid = (gap >= 0) & (gap < self.max_answer_tokens)
        valid &= in_context[:, None] & in_context[None, :]
        scores = scores.masked_fill(~valid, float("-inf"))
        flat = int(torch.argmax(scores))
        return float(scores.view(-1)[flat]), flat // length, flat % length
