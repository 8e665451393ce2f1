"""emotion: the emotions a text expresses, as Backprop answered them.

``{"emotion": "disgust"}``; several emotions as ``"anger, disgust"`` (by
descending score); opt-in ``"scores": true`` adds every label's score.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .base import BOOLEAN, STRING, Param, TaskKind, rounded
from .operations import ScoresEmotions


class Emotion(TaskKind[ScoresEmotions]):
    name = "emotion"
    title = "Emotion"
    description = (
        "Detects the emotions a piece of English text expresses, among the 27 emotions of GoEmotions plus "
        "neutral (admiration, amusement, anger, annoyance, ..., surprise). Every emotion whose score passes its "
        "own threshold is returned, strongest first and separated by commas; when none passes, the strongest "
        "one. Neutral is returned only when no other emotion passes. Send a list of texts to classify them "
        "as one batch."
    )
    operation = "emotion_scores"
    renderer = "labels"
    item_params = ("text",)
    order = 10
    default_model = "emotion-minilm-goemotions"
    params = (
        Param("text", STRING, "The text to classify, or a list of texts.", max_chars=2000, max_tokens=256,
              many=True, max_items=32, ui={"widget": "textarea", "rows": 4}),
        Param("scores", BOOLEAN, "Also return every label's score (0 to 1).", default=False),
    )
    example = {"text": "The service was awful, and so was the food."}
    response_schema = {
        "type": "object",
        "properties": {
            "emotion": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
                        "description": "Comma-separated emotions, strongest first (a list for a list of texts)."},
            "scores": {"description": "Only with scores=true: every label's score (a list for a list of texts).",
                       "oneOf": [{"type": "object", "additionalProperties": {"type": "number"}},
                                 {"type": "array",
                                  "items": {"type": "object", "additionalProperties": {"type": "number"}}}]},
        },
        "required": ["emotion"],
    }
    response_example = {"emotion": "disgust"}

    def forward(self, backend: ScoresEmotions, items: list[dict[str, Any]], **context: Any) -> Sequence[Any]:
        thresholds = backend.thresholds
        return [(decide(scores, thresholds), scores) for scores in backend.emotion_scores([i["text"] for i in items])]

    def postprocess(self, output: tuple[str, dict[str, float]], item: dict[str, Any]) -> dict[str, Any]:
        emotion, scores = output
        return {"emotion": emotion, "scores": rounded(scores)} if item["scores"] else {"emotion": emotion}


def decide(scores: dict[str, float], thresholds: Mapping[str, float]) -> str:
    """Labels passing their thresholds by descending score; the top label when none passes."""
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    passing = [label for label, value in ranked if value >= thresholds.get(label, 0.5)]
    if len(passing) > 1 and "neutral" in passing:
        passing.remove("neutral")
    if not passing:
        passing = [ranked[0][0]]
    return ", ".join(passing)
