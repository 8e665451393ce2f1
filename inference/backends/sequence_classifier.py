"""Sequence classifiers: an encoder with a classification head over fixed labels.

The shipped emotion model is one (a ``BertForSequenceClassification`` folder,
``problem_type`` ``multi_label_classification``). What the backend reads from
the model's ``config.json``:

``id2label``
    The label names, in the order of the head's outputs.
``problem_type``
    ``"multi_label_classification"``: each label gets an independent sigmoid
    probability. Anything else: a softmax over the labels.
``thresholds``
    Decision threshold per label: a mapping label -> float (keys may also be
    label ids), or a list in label order. Labels without one get 0.5.
``pooling``
    ``"mean"``: the head is applied to the mean of the encoder's last hidden
    states over the attention mask instead of the ``[CLS]`` pooler (for heads
    trained that way). Absent or ``"cls"``: the model's own forward pass.

Catalog ``options`` read here: ``max_length`` (int) and ``batch_size`` (int).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers import (
    AutoModelForSequenceClassification,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from inference.backends.base import BackendError, LoadTarget
from inference.backends.sentence_encoder import DEFAULT_BATCH_SIZE
from inference.backends.text import TextModelBackend, length_grouped_rows, mean_pool

DEFAULT_THRESHOLD = 0.5


def config_labels(config: PretrainedConfig) -> list[str]:
    """The label names of a classification head, in output order."""
    return [str(config.id2label[i]) for i in range(config.num_labels)]


def config_thresholds(
    config: PretrainedConfig, labels: Sequence[str]
) -> dict[str, float]:
    """Per-label decision thresholds from ``config.thresholds``, 0.5 where absent."""
    thresholds = dict.fromkeys(labels, DEFAULT_THRESHOLD)
    given: Any = getattr(config, "thresholds", None)
    if given is None:
        return thresholds
    if isinstance(given, list | tuple):
        if len(given) != len(labels):
            raise BackendError(
                "config thresholds list does not match the number of labels"
            )
        return {label: float(value) for label, value in zip(labels, given, strict=True)}
    if not isinstance(given, dict):
        raise BackendError("config thresholds must be a mapping or a list")
    for key, value in given.items():
        if key in thresholds:
            thresholds[key] = float(value)
        elif str(key).isdigit() and int(key) < len(labels):
            thresholds[labels[int(key)]] = float(value)
        else:
            raise BackendError(f"config thresholds names an unknown label {key!r}")
    return thresholds


class SequenceClassifierBackend(TextModelBackend):
    """A text classifier with a fixed label set (``emotion_scores``)."""

    family = "sequence-classifier"
    cpu_bfloat16 = True  # checked against float32: docs/perf/README.md (vectors, emotion decisions)
    operations = frozenset({"emotion_scores"})
    auto_class = AutoModelForSequenceClassification

    def __init__(self, target: LoadTarget, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                 config: PretrainedConfig, max_length: int) -> None:
        super().__init__(target, model, tokenizer, config, max_length)
        self.batch_size = int(target.options.get("batch_size", DEFAULT_BATCH_SIZE))
        self.labels = config_labels(config)
        self.thresholds: dict[str, float] = config_thresholds(config, self.labels)
        self.multi_label = config.problem_type == "multi_label_classification"
        self.pooling = str(getattr(config, "pooling", None) or "cls")
        if self.pooling not in ("cls", "mean"):
            raise BackendError(f"unknown pooling {self.pooling!r} in the model config")
        if self.pooling == "mean":
            classifier = getattr(model, "classifier", None)
            hidden_size = getattr(config, "hidden_size", None)
            if (
                not isinstance(classifier, torch.nn.Linear)
                or classifier.in_features != hidden_size
            ):
                raise BackendError(
                    "pooling 'mean' needs a linear classifier over the hidden states"
                )

    def _logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.pooling == "cls":
            return self.model(**batch).logits
        # Mean pooling: the head sees the masked mean of the last hidden states.
        # The model is in eval mode, so the dropout before the head is off.
        hidden = self.model.base_model(**batch).last_hidden_state
        pooled = mean_pool(hidden, batch["attention_mask"]).to(hidden.dtype)
        return self.model.classifier(pooled)

    @torch.inference_mode()
    def emotion_scores(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Per text, the probability of every label (sigmoid if multi-label, else softmax)."""
        def run(batch: dict[str, torch.Tensor]) -> torch.Tensor:
            logits = self._logits(batch).to(torch.float32)
            return torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, dim=-1)

        probabilities = length_grouped_rows(self.tokenizer, texts, batch_size=self.batch_size,
                                            max_length=self.max_length, device=self.target.device, run=run)
        return [dict(zip(self.labels, row, strict=True)) for row in probabilities.tolist()]
