"""summarisation: a short summary of a longer text. ``{"summary": "..."}``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .base import STRING, Param, TaskKind
from .operations import Summarises


class Summarisation(TaskKind[Summarises]):
    name = "summarisation"
    title = "Summarisation"
    description = (
        "Writes a short summary of a longer English text: a few sentences that keep its main points. The "
        "default model, SmolLM2, summarises through an instruction; a dedicated summarisation model (BART, T5) "
        "can be installed from the catalog."
    )
    operation = "summarise"
    renderer = "text"
    item_params = ("text",)
    order = 70
    default_model = "smollm2-135m-instruct"
    params = (
        Param("text", STRING, "The text to summarise, or a list of texts.", max_chars=10000, max_tokens=2048,
              many=True, max_items=8, ui={"widget": "textarea", "rows": 8}),
    )
    example = {"text": (
        "The city council met on Tuesday to discuss the new bicycle lanes planned for the centre. After two "
        "hours of debate, members voted eight to three to build the first lanes next spring, paid for by the "
        "regional transport fund. Shop owners on the main street had asked for more parking instead, but the "
        "council promised to review deliveries once the lanes are open.")}
    response_schema = {
        "type": "object",
        "properties": {"summary": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
                                   "description": "The summary (a list for a list of texts)."}},
        "required": ["summary"],
    }
    response_example = {"summary": "The council voted to build bicycle lanes in the centre next spring."}

    def forward(self, backend: Summarises, items: list[dict[str, Any]], **context: Any) -> Sequence[Any]:
        return [{"summary": summary.strip()} for summary in backend.summarise([item["text"] for item in items])]
