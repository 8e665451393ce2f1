"""CLIP: zero-shot image classification and vectors in a joint image-text space.

A folder in transformers format (``CLIPModel`` weights, a CLIP tokenizer and a
``CLIPImageProcessor``), loaded offline.

- ``image_label_scores``: each label is written into ``label_template``
  ("a photo of a {}." by default, the prompt of the CLIP paper); the
  image-text cosine similarities, times the model's learnt ``logit_scale``,
  are softmaxed over the image's labels. CLIP is open-vocabulary, so no
  label is ever unmatched.
- ``embed_images`` / ``embed_texts``: the projected image / text features,
  L2-normalised (the space in which CLIP compares them).
- ``embed_image_texts``: the L2-normalised sum of the normalised image
  embedding and the normalised text embedding. Both lie on the same unit
  sphere of the joint space, so their normalised mean stays in that space:
  it can be compared with image, text or image+text vectors alike, and each
  modality weighs the same whatever the raw feature norms.

Catalog ``options`` read here:

``label_template`` (str)
    Template with one ``{}`` for a label; ``"{}"`` uses the bare label.
``batch_size`` (int)
    Images or texts per forward pass (default 16).
``max_length`` (int)
    Upper bound on text tokens; the model's position table still applies.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image
from transformers import AutoTokenizer, CLIPImageProcessor, CLIPModel, PreTrainedTokenizerBase

from inference.backends.base import Backend, BackendError, LoadTarget
from inference.backends.text import length_grouped_rows, model_max_length

DEFAULT_LABEL_TEMPLATE = "a photo of a {}."
DEFAULT_BATCH_SIZE = 16


def _features(output: object) -> torch.Tensor:
    """The tensor of ``get_*_features`` (a tensor, or a model output in other transformers versions)."""
    if isinstance(output, torch.Tensor):
        return output
    pooled = getattr(output, "pooler_output", None)
    if isinstance(pooled, torch.Tensor):
        return pooled
    raise BackendError("the CLIP model returned no features")


class ClipBackend(Backend):
    """A CLIP model: zero-shot label scores, image, text and image+text vectors."""

    family = "clip"
    operations = frozenset({"image_label_scores", "embed_images", "embed_texts", "embed_image_texts"})

    def __init__(
        self,
        target: LoadTarget,
        model: CLIPModel,
        tokenizer: PreTrainedTokenizerBase,
        image_processor: CLIPImageProcessor,
    ) -> None:
        super().__init__(target)
        self.model = model
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        options = target.options
        self.label_template = str(options.get("label_template", DEFAULT_LABEL_TEMPLATE))
        self.batch_size = int(options.get("batch_size", DEFAULT_BATCH_SIZE))
        if "{}" not in self.label_template:
            raise BackendError("label_template must contain '{}'")
        if self.batch_size <= 0:
            raise BackendError("batch_size must be positive")
        self.max_length = model_max_length(tokenizer, model.config.text_config, Path(target.path),
                                           options.get("max_length"))

    @classmethod
    def load(cls, target: LoadTarget) -> ClipBackend:
        """Load the model, tokenizer and image processor from ``target.path`` (never downloads)."""
        path = Path(target.path)
        if not path.is_dir():
            raise BackendError(f"model folder {path} does not exist")
        try:
            model = CLIPModel.from_pretrained(path, local_files_only=True, dtype=target.dtype)
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            image_processor = CLIPImageProcessor.from_pretrained(path, local_files_only=True)
        except (OSError, ValueError, KeyError) as exc:
            raise BackendError(f"could not load {target.model_id} from {path}: {exc}") from exc
        model.to(target.device)
        model.eval()
        return cls(target, model, tokenizer, image_processor)

    @torch.inference_mode()
    def encode_images(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """(len(images), dim) float32 unit rows in the joint space."""
        chunks: list[torch.Tensor] = []
        for start in range(0, len(images), self.batch_size):
            pixels = self.image_processor(
                images=[image.convert("RGB") for image in images[start : start + self.batch_size]],
                return_tensors="pt",
            )["pixel_values"].to(self.target.device, self.target.dtype)
            features = _features(self.model.get_image_features(pixel_values=pixels))
            chunks.append(torch.nn.functional.normalize(features.float(), p=2, dim=-1).cpu())
        return torch.cat(chunks) if chunks else torch.empty(0, 0)

    @torch.inference_mode()
    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """(len(texts), dim) float32 unit rows in the joint space; long texts are truncated."""
        def run(batch: dict[str, torch.Tensor]) -> torch.Tensor:
            features = _features(
                self.model.get_text_features(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
            )
            return torch.nn.functional.normalize(features.float(), p=2, dim=-1)

        return length_grouped_rows(self.tokenizer, texts, batch_size=self.batch_size, max_length=self.max_length,
                                   device=self.target.device, run=run)

    def image_label_scores(
        self, images: Sequence[Image.Image], labels: Sequence[Sequence[str]]
    ) -> list[tuple[dict[str, float], list[str]]]:
        """Per image a softmax over its labels' prompts (CLIP matches every label)."""
        if len(images) != len(labels):
            raise BackendError("images and labels must have the same length")
        if any(not label_list for label_list in labels):
            raise BackendError("every image needs at least one label")
        unique = list(dict.fromkeys(label for label_list in labels for label in label_list))
        text_vectors = self.encode_texts([self.label_template.format(label) for label in unique])
        index = {label: i for i, label in enumerate(unique)}
        image_vectors = self.encode_images(images)
        scale = float(self.model.logit_scale.detach().float().exp().clamp(max=100.0))
        results: list[tuple[dict[str, float], list[str]]] = []
        for image_vector, given in zip(image_vectors, labels, strict=True):
            label_list = list(dict.fromkeys(given))
            logits = scale * (text_vectors[[index[label] for label in label_list]] @ image_vector)
            probabilities = torch.softmax(logits, dim=-1).tolist()
            results.append((dict(zip(label_list, probabilities, strict=True)), []))
        return results

    def embed_images(self, images: Sequence[Image.Image]) -> list[list[float]]:
        """One L2-normalised joint-space vector per image."""
        return self.encode_images(images).tolist()

    def embed_texts(self, texts: Sequence[str]) -> list[list[float]]:
        """One L2-normalised joint-space vector per text."""
        return self.encode_texts(texts).tolist()

    def embed_image_texts(self, images: Sequence[Image.Image], texts: Sequence[str]) -> list[list[float]]:
        """Per pair, normalise(normalise(image) + normalise(text)): a joint-space vector of both."""
        if len(images) != len(texts):
            raise BackendError("images and texts must have the same length")
        combined = self.encode_images(images) + self.encode_texts(texts)
        return torch.nn.functional.normalize(combined, p=2, dim=-1).tolist()
