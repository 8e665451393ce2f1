"""image-vectorisation: an image as a vector for search and deduplication. ``{"vector": [...]}``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from inference.inputs.images import decode_image

from .base import IMAGE, Param, TaskKind
from .operations import EmbedsImages
from .vectorisation import VECTOR_RESPONSE, rounded_vector


class ImageVectorisation(TaskKind[EmbedsImages]):
    name = "image-vectorisation"
    title = "Image vectorisation"
    description = (
        "Turns an image into a vector (unit length) that captures what it shows: similar images get vectors "
        "pointing the same way, so the dot product of two vectors measures how alike they are. Use it for "
        "image search and near-duplicate detection. The default model, EfficientNet-Lite0, gives 1,280 numbers."
    )
    operation = "embed_images"
    renderer = "vector"
    item_params = ("image",)
    order = 90
    default_model = "efficientnet-lite0"
    params = (
        Param("image", IMAGE, "The image: a base64 data URI, or a file in a multipart upload.", many=True,
              max_items=16, ui={"widget": "image"}),
    )
    example = {"image": "data:image/png;base64,..."}
    response_schema = VECTOR_RESPONSE
    response_example = {"vector": [0.0123, -0.0456, 0.0789]}

    def preprocess(self, item: dict[str, Any]) -> Any:
        return decode_image(item["image"])

    def forward(self, backend: EmbedsImages, items: list[Any], **context: Any) -> Sequence[Any]:
        return [{"vector": rounded_vector(v)} for v in backend.embed_images(items)]
