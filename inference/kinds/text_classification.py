"""text-classification: zero-shot, over the labels the caller gives.

``{"probabilities": {"sports": 0.71, "politics": 0.05, ...}}`` summing to 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .base import STRING, STRING_LIST, Param, TaskKind, rounded
from .operations import ScoresTextLabels


class TextClassification(TaskKind[ScoresTextLabels]):
    name = "text-classification"
    title = "Text classification"
    description = (
        "Sorts a text into labels you choose, with no training: give the text and the labels (for example "
        "\"sports, politics, technology\") and get a probability for each label, summing to 1. The default "
        "model compares the meaning of the text with the meaning of each label; an NLI model, where installed, "
        "asks whether the text entails \"This example is <label>.\""
    )
    operation = "text_label_scores"
    renderer = "probabilities"
    item_params = ("text",)
    order = 50
    default_model = "all-minilm-l6-v2"
    params = (
        Param("text", STRING, "The text to classify, or a list of texts.", max_chars=5000, max_tokens=512,
              many=True, max_items=32, ui={"widget": "textarea", "rows": 4}),
        Param("labels", STRING_LIST, "The labels to choose among, comma-separated or a list.", max_items=50,
              max_chars=100, ui={"placeholder": "sports, politics, technology"}),
    )
    example = {"text": "Spain won the football final after a penalty shoot-out.",
               "labels": "sports, politics, technology, cooking"}
    response_schema = {
        "type": "object",
        "properties": {"probabilities": {
            "description": "Label -> probability, highest first, summing to 1 (a list for a list of texts).",
            "oneOf": [{"type": "object", "additionalProperties": {"type": "number"}},
                      {"type": "array", "items": {"type": "object"}}]}},
        "required": ["probabilities"],
    }
    response_example = {"probabilities": {"sports": 0.71, "cooking": 0.17, "technology": 0.07, "politics": 0.05}}

    def forward(self, backend: ScoresTextLabels, items: list[dict[str, Any]], **context: Any) -> Sequence[Any]:
        scores = backend.text_label_scores([item["text"] for item in items], [item["labels"] for item in items])
        return [{"probabilities": dict(sorted(rounded(s).items(), key=lambda kv: kv[1], reverse=True))}
                for s in scores]
