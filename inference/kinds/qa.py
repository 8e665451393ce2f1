"""qa: answer a question from a context, optionally following earlier questions.

``{"answer": "..."}``. ``prev_q`` and ``prev_a`` are the earlier questions and
answers of a conversation about the same context (Backprop's shape).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .base import STRING, InputError, Param, TaskKind, check_paired
from .operations import Answers


class QA(TaskKind[Answers]):
    name = "qa"
    title = "Question answering"
    description = (
        "Answers a question about a text (the context). The answer comes from the context: an extractive model "
        "returns a span of it, a generative model (the default, SmolLM2) writes a short answer from it. For a "
        "conversation, pass the earlier questions and answers as prev_q and prev_a, oldest first."
    )
    operation = "answer"
    renderer = "answer"
    item_params = ("question", "context")
    order = 60
    default_model = "smollm2-135m-instruct"
    params = (
        Param("question", STRING, "The question, or a list of questions.", max_chars=1000, max_tokens=256,
              many=True, max_items=16),
        Param("context", STRING, "The text that holds the answer (a list, paired with a list of questions).",
              max_chars=10000, max_tokens=2048, many=True, max_items=16,
              ui={"widget": "textarea", "rows": 6, "quote": True}),
        Param("prev_q", STRING, "Earlier questions of the conversation, oldest first.", default=None,
              nullable=True, many=True, max_items=10, max_chars=1000, advanced=True),
        Param("prev_a", STRING, "Answers to the earlier questions, in the same order.", default=None,
              nullable=True, many=True, max_items=10, max_chars=1000, advanced=True),
    )
    example = {"question": "Where does Sally live?",
               "context": "Sally lives in London with her two cats. She works at a bakery near the river."}
    response_schema = {
        "type": "object",
        "properties": {"answer": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
                                  "description": "The answer (a list for a list of questions)."}},
        "required": ["answer"],
    }
    response_example = {"answer": "London"}

    def check(self, cleaned: dict[str, Any], given: set[str]) -> None:
        check_paired(cleaned, "question", "context")
        for name in ("prev_q", "prev_a"):
            if isinstance(cleaned[name], str):
                cleaned[name] = [cleaned[name]]
        if len(cleaned["prev_q"] or []) != len(cleaned["prev_a"] or []):
            raise InputError("prev_a", "give one answer in prev_a for each question in prev_q")

    def forward(self, backend: Answers, items: list[dict[str, Any]], **context: Any) -> Sequence[Any]:
        histories = [list(zip(item["prev_q"] or [], item["prev_a"] or [], strict=True)) for item in items]
        answers = backend.answer([item["question"] for item in items], [item["context"] for item in items], histories)
        return [{"answer": answer.strip()} for answer in answers]
