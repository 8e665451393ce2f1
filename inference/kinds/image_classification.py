"""image-classification: what an image shows, as probabilities over labels.

``{"probabilities": {"tabby cat": 0.62, ...}}`` summing to 1, highest first.
With ``labels`` the probabilities are over those labels (zero-shot with CLIP;
matched to ImageNet's classes with a closed-set model, which reports labels it
cannot match as ``"unmatched"``). Without labels, a closed-set model returns
its ``top_k`` classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from inference.inputs.images import decode_image

from .base import IMAGE, INTEGER, STRING_LIST, ItemResult, Param, TaskKind, rounded
from .operations import LabelsImages, classifies_images


class ImageClassification(TaskKind[LabelsImages]):
    name = "image-classification"
    title = "Image classification"
    description = (
        "Tells what an image shows. With labels (for example \"cat, dog, car\") the probabilities are spread "
        "over your labels and sum to 1. A zero-shot model (CLIP) takes any labels. The default model, "
        "EfficientNet-Lite0, knows ImageNet's 1,000 classes: a label gets the probability of the classes it "
        "names, and labels it cannot match to any class are listed as unmatched instead of getting a number. "
        "Without labels it returns its top_k classes."
    )
    operation = "image_label_scores"
    renderer = "probabilities"
    item_params = ("image",)
    order = 40
    default_model = "efficientnet-lite0"
    params = (
        Param("image", IMAGE, "The image: a base64 data URI, or a file in a multipart upload.", many=True,
              max_items=8, ui={"widget": "image"}),
        Param("labels", STRING_LIST, "Labels to choose among, comma-separated or a list. Optional with a "
              "closed-set model.", default=None, nullable=True, max_items=50, max_chars=100,
              ui={"placeholder": "cat, dog, car"}),
        Param("top_k", INTEGER, "Without labels: how many classes to return.", default=5, minimum=1, maximum=20),
    )
    example = {"image": "data:image/jpeg;base64,...", "labels": "cat, dog, car"}
    response_schema = {
        "type": "object",
        "properties": {
            "probabilities": {"description": "Label (or class) -> probability, highest first, summing to 1 "
                                             "(a list for a list of images).",
                              "oneOf": [{"type": "object", "additionalProperties": {"type": "number"}},
                                        {"type": "array", "items": {"type": "object"}}]},
            "unmatched": {"description": "Closed-set models only, when a label matches no class: those labels "
                                         "(no number given); a list of them per image for a list of images.",
                          "type": "array", "items": {}},
        },
        "required": ["probabilities"],
    }
    response_example = {"probabilities": {"cat": 0.97, "dog": 0.03}}

    def preprocess(self, item: dict[str, Any]) -> Any:
        return {**item, "image": decode_image(item["image"])}

    def forward(self, backend: LabelsImages, items: list[dict[str, Any]], **context: Any) -> Sequence[Any]:
        """Per image (probabilities, unmatched labels): over its labels, or its top_k classes without."""
        outputs: list[Any] = [None] * len(items)
        with_labels = [i for i, item in enumerate(items) if item["labels"]]
        without = [i for i, item in enumerate(items) if not item["labels"]]
        if with_labels:
            scored = backend.image_label_scores([items[i]["image"] for i in with_labels],
                                                [items[i]["labels"] for i in with_labels])
            for i, outcome in zip(with_labels, scored, strict=True):
                outputs[i] = outcome
        if without and classifies_images(backend):
            top_k = max(items[i]["top_k"] for i in without)
            classified = backend.classify_images([items[i]["image"] for i in without], top_k)
            for i, scores in zip(without, classified, strict=True):
                best = dict(sorted(scores.items(), key=lambda kv: kv[1], reverse=True)[: items[i]["top_k"]])
                total = sum(best.values()) or 1.0
                outputs[i] = ({k: v / total for k, v in best.items()}, [])
        elif without:
            for i in without:
                outputs[i] = ItemResult(error="labels: this model is zero-shot; give the labels to choose among")
        return outputs

    def postprocess(self, output: Any, item: dict[str, Any]) -> dict[str, Any] | ItemResult:
        if isinstance(output, ItemResult):
            return output
        probabilities, missing = output
        if not probabilities:
            return ItemResult(error=(
                f"labels: none of {', '.join(sorted(set(missing)))} matches a class this model knows (ImageNet's "
                "1,000 classes). Free-form labels need a zero-shot model such as CLIP."))
        body: dict[str, Any] = {"probabilities": _sorted(rounded(probabilities))}
        if missing:
            body["unmatched"] = missing
        return body

    def join(self, results: list[ItemResult], job: dict[str, Any]) -> ItemResult:
        joined = super().join(results, job)
        if joined.output is not None and "unmatched" in joined.output:  # an image with all labels matched: []
            joined.output["unmatched"] = [missing or [] for missing in joined.output["unmatched"]]
        return joined


def _sorted(probabilities: dict[str, float]) -> dict[str, float]:
    return dict(sorted(probabilities.items(), key=lambda kv: kv[1], reverse=True))
