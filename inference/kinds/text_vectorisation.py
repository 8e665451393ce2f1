"""text-vectorisation: a text as a vector for search and clustering. ``{"vector": [...]}``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .base import STRING, OpenAIEquivalent, Param, TaskKind
from .operations import EmbedsTexts
from .vectorisation import VECTOR_RESPONSE, rounded_vector


class TextVectorisation(TaskKind[EmbedsTexts]):
    name = "text-vectorisation"
    title = "Text vectorisation"
    description = (
        "Turns a text into a vector (a list of numbers, unit length) that captures its meaning: texts that mean "
        "similar things get vectors pointing the same way, so the dot product of two vectors measures how "
        "similar the texts are. Use it for semantic search, clustering and deduplication. The default model, "
        "all-MiniLM-L6-v2, gives 384 numbers."
    )
    operation = "embed_texts"
    renderer = "vector"
    item_params = ("text",)
    order = 80
    openai = OpenAIEquivalent(resource="embeddings", path="/v1/embeddings", answer="data[0].embedding",
                              params={"text": "input"})
    default_model = "all-minilm-l6-v2"
    params = (
        Param("text", STRING, "The text, or a list of texts.", max_chars=5000, max_tokens=512, many=True,
              max_items=64, ui={"widget": "textarea", "rows": 4}),
    )
    example = {"text": "Forwardpass runs machine learning models behind a simple API."}
    response_schema = VECTOR_RESPONSE
    response_example = {"vector": [0.0123, -0.0456, 0.0789]}

    def forward(self, backend: EmbedsTexts, items: list[dict[str, Any]], **context: Any) -> Sequence[Any]:
        return [{"vector": rounded_vector(v)} for v in backend.embed_texts([item["text"] for item in items])]
