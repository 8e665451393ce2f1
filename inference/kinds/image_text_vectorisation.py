"""image-text-vectorisation: an image and a text as one joint vector. ``{"vector": [...]}``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from inference.inputs.images import decode_image

from .base import IMAGE, STRING, Param, TaskKind, check_paired
from .operations import EmbedsImageTexts
from .vectorisation import VECTOR_RESPONSE, rounded_vector


class ImageTextVectorisation(TaskKind[EmbedsImageTexts]):
    name = "image-text-vectorisation"
    title = "Image-text vectorisation"
    description = (
        "Turns an image together with a text (a product photo and its title, say) into one vector in CLIP's "
        "joint image-text space: the normalised sum of the image's and the text's vectors. Pairs that show and "
        "say similar things get vectors pointing the same way. Needs CLIP."
    )
    operation = "embed_image_texts"
    renderer = "vector"
    item_params = ("image", "text")
    order = 100
    default_model = "clip-vit-base-patch32"
    params = (
        Param("image", IMAGE, "The image: a base64 data URI, or a file in a multipart upload.", many=True,
              max_items=16, ui={"widget": "image"}),
        Param("text", STRING, "The text that goes with the image (a list, paired with a list of images).",
              max_chars=1000, max_tokens=77, many=True, max_items=16),
    )
    example = {"image": "data:image/png;base64,...", "text": "A tabby cat resting on a sofa"}
    response_schema = VECTOR_RESPONSE
    response_example = {"vector": [0.0123, -0.0456, 0.0789]}

    def check(self, cleaned: dict[str, Any], given: set[str]) -> None:
        check_paired(cleaned, "image", "text")

    def preprocess(self, item: dict[str, Any]) -> Any:
        return decode_image(item["image"]), item["text"]

    def forward(self, backend: EmbedsImageTexts, items: list[Any], **context: Any) -> Sequence[Any]:
        vectors = backend.embed_image_texts([image for image, _ in items], [text for _, text in items])
        return [{"vector": rounded_vector(v)} for v in vectors]
