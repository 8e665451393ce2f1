"""Shared response shape of the three vectorisation kinds."""

from __future__ import annotations

VECTOR_RESPONSE = {
    "type": "object",
    "properties": {"vector": {
        "description": "An L2-normalised vector (a list of vectors for a list of inputs).",
        "type": "array", "items": {}}},
    "required": ["vector"],
}


def rounded_vector(vector: list[float]) -> list[float]:
    return [round(float(x), 6) for x in vector]
