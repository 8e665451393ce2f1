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

from .base import IMAGE, INTEGER, STRING_LIST, ItemResult, Param, TaskKind, flatten, rounded, unflatten


class ImageClassification(TaskKind):
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

    def run(self, backend: Any, inputs: Sequence[dict[str, Any]], **context: Any) -> list[ItemResult]:
        rows, shapes = flatten(inputs, "image")
        per_job_counts = [1 if s is None else s for s in shapes]
        images = [decode_image(image) for (image,) in rows]
        labels_per_row = [item["labels"] for item, n in zip(inputs, per_job_counts, strict=True) for _ in range(n)]
        top_k_per_row = [item["top_k"] for item, n in zip(inputs, per_job_counts, strict=True) for _ in range(n)]

        outcomes: list[tuple[dict[str, float], list[str]] | None] = [None] * len(images)
        with_labels = [i for i, labels in enumerate(labels_per_row) if labels]
        without = [i for i, labels in enumerate(labels_per_row) if not labels]
        if with_labels:
            scored = backend.image_label_scores([images[i] for i in with_labels],
                                                [labels_per_row[i] for i in with_labels])
            for i, outcome in zip(with_labels, scored, strict=True):
                outcomes[i] = outcome
        if without:
            if not backend.supports("classify_images"):
                return [ItemResult(error="labels: this model is zero-shot; give the labels to choose among")
                        for _ in inputs]
            top_k = max(top_k_per_row[i] for i in without)
            classified = backend.classify_images([images[i] for i in without], top_k)
            for i, scores in zip(without, classified, strict=True):
                best = dict(sorted(scores.items(), key=lambda kv: kv[1], reverse=True)[: top_k_per_row[i]])
                total = sum(best.values()) or 1.0
                outcomes[i] = ({k: v / total for k, v in best.items()}, [])

        per_job = unflatten(outcomes, shapes)
        results = []
        for value in per_job:
            items = value if isinstance(value, list) else [value]
            if any(not probabilities for probabilities, _ in items):
                unmatched = sorted({label for _, missing in items for label in missing})
                results.append(ItemResult(error=(
                    f"labels: none of {', '.join(unmatched)} matches a class this model knows (ImageNet's 1,000 "
                    "classes). Free-form labels need a zero-shot model such as CLIP.")))
                continue
            shaped = [(_sorted(rounded(p)), missing) for p, missing in items]
            output: dict[str, Any] = {"probabilities": [p for p, _ in shaped] if isinstance(value, list)
                                      else shaped[0][0]}
            if any(missing for _, missing in shaped):
                output["unmatched"] = [m for _, m in shaped] if isinstance(value, list) else shaped[0][1]
            results.append(ItemResult(output=output))
        return results


def _sorted(probabilities: dict[str, float]) -> dict[str, float]:
    return dict(sorted(probabilities.items(), key=lambda kv: kv[1], reverse=True))
