"""text-length: how long a text is, in characters, words and lines. ``{"characters": 53, "words": 11, "lines": 2}``.

The whole of a task kind in one file, as a new kind is written in ``inference/kinds/``: served by
the echo family (its model hands the text back and this kind counts it), on the model it names as
its default. ``tests/browser/test_adding_a_kind.py`` registers it and sees everything appear.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from inference.kinds.base import STRING, Param, TaskKind
from inference.kinds.operations import Echoes


class TextLength(TaskKind[Echoes]):
    name = "text-length"
    title = "Text length"
    description = ("Counts the characters, words and lines of a text. Send a list of texts to count each of "
                   "them in one request.")
    operation = "echo"
    renderer = "json"
    item_params = ("text",)
    default_model = "plain-text"
    params = (
        Param("text", STRING, "The text to measure, or a list of texts.", max_chars=10000, many=True,
              max_items=16, ui={"widget": "textarea", "rows": 4}),
    )
    example = {"text": "One small step for a man,\none giant leap for mankind."}
    response_schema = {
        "type": "object",
        "properties": {
            "characters": {"description": "Characters, spaces included (a list for a list of texts).",
                           "oneOf": [{"type": "integer"}, {"type": "array", "items": {"type": "integer"}}]},
            "words": {"description": "Words: runs of characters between spaces (a list for a list of texts).",
                      "oneOf": [{"type": "integer"}, {"type": "array", "items": {"type": "integer"}}]},
            "lines": {"description": "Lines (a list for a list of texts).",
                      "oneOf": [{"type": "integer"}, {"type": "array", "items": {"type": "integer"}}]},
        },
        "required": ["characters", "words", "lines"],
    }
    response_example = {"characters": 53, "words": 11, "lines": 2}

    def forward(self, backend: Echoes, items: list[dict[str, Any]], **context: Any) -> Sequence[Any]:
        return [backend.echo(item["text"]) for item in items]

    def postprocess(self, text: str, item: dict[str, Any]) -> dict[str, Any]:
        return {"characters": len(text), "words": len(text.split()), "lines": len(text.splitlines())}
