"""image-vectorisation: an image as a vector for search and deduplication. ``{"vector": [...]}``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from inference.inputs.images import decode_image

from .base import IMAGE, ItemResult, Param, TaskKind, flatten, unflatten
from .vectorisation import VECTOR_RESPONSE, rounded_vector


class ImageVectorisation(TaskKind):
    name = "image-vectorisation"
    title = "Image vectorisation"
    description = (
        "Turns an image into a vector (unit length) that captures what it shows: similar images get vectors "
        "pointing the same way, so the dot product of two vectors measures how alike they are. Use it for "
        "image search and near-duplicate detection. The default model, EfficientNet-Lite0, gives 1,280 numbers."
    )
    operation = "embed_images"
    renderer = "vector"
    default_model = "efficientnet-lite0"
    params = (
        Param("image", IMAGE, "The image: a base64 data URI, or a file in a multipart upload.", many=True,
              max_items=16, ui={"widget": "image"}),
    )
    example = {"image": "data:image/png;base64,..."}
    response_schema = VECTOR_RESPONSE
    response_example = {"vector": [0.0123, -0.0456, 0.0789]}

    def run(self, backend: Any, inputs: Sequence[dict[str, Any]], **context: Any) -> list[ItemResult]:
        rows, shapes = flatten(inputs, "image")
        vectors = [rounded_vector(v) for v in backend.embed_images([decode_image(img) for (img,) in rows])]
        return [ItemResult(output={"vector": value}) for value in unflatten(vectors, shapes)]
