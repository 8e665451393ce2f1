"""Zero-shot text classification with a natural-language-inference model.

Done the way transformers' ``ZeroShotClassificationPipeline`` does it (single
label): every (text, label) pair becomes a premise/hypothesis pair, the
hypothesis being the label written into a template; the model's
*entailment* logits of one text's pairs are softmaxed over its labels.

The entailment output is the label of ``config.label2id`` that starts with
"entail" (case-insensitive); if there is none, the last output, as in the
pipeline.

Catalog ``options`` read here:

``hypothesis_template`` (str, default ``"This example is {}."``)
``max_length`` (int) and ``batch_size`` (int, premise/hypothesis pairs per pass).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import (
    AutoModelForSequenceClassification,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from inference.backends.base import BackendError, LoadTarget
from inference.backends.sentence_encoder import DEFAULT_BATCH_SIZE
from inference.backends.text import TextModelBackend

DEFAULT_HYPOTHESIS_TEMPLATE = "This example is {}."


def entailment_index(config: PretrainedConfig) -> int:
    """The output index of the entailment class (as the transformers pipeline finds it)."""
    for label, index in config.label2id.items():
        if str(label).lower().startswith("entail"):
            return int(index)
    return config.num_labels - 1


class NliZeroShotBackend(TextModelBackend):
    """Zero-shot text classification by entailment (``text_label_scores``)."""

    family = "nli"
    operations = frozenset({"text_label_scores"})
    auto_class = AutoModelForSequenceClassification

    def __init__(self, target: LoadTarget, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                 config: PretrainedConfig, max_length: int) -> None:
        super().__init__(target, model, tokenizer, config, max_length)
        self.entailment = entailment_index(config)
        options = target.options
        self.hypothesis_template = str(
            options.get("hypothesis_template", DEFAULT_HYPOTHESIS_TEMPLATE)
        )
        self.batch_size = int(options.get("batch_size", DEFAULT_BATCH_SIZE))
        if "{}" not in self.hypothesis_template:
            raise BackendError("hypothesis_template must contain '{}'")

    @torch.inference_mode()
    def _entailment_logits(
        self, premises: list[str], hypotheses: list[str]
    ) -> torch.Tensor:
        chunks: list[torch.Tensor] = []
        for start in range(0, len(premises), self.batch_size):
            end = start + self.batch_size
            # "only_first" cuts the premise and keeps the short hypothesis whole.
            batch = self.tokenizer(
                premises[start:end],
                hypotheses[start:end],
                padding=True,
                truncation="only_first",
                max_length=self.max_length,
                return_tensors="pt",
            ).to(self.target.device)
            logits = self.model(**batch).logits.to(torch.float32)
            chunks.append(logits[:, self.entailment].cpu())
        return torch.cat(chunks) if chunks else torch.empty(0)

    def text_label_scores(
        self, texts: Sequence[str], labels: Sequence[Sequence[str]]
    ) -> list[dict[str, float]]:
        """For each text, a distribution over its labels from the entailment logits."""
        if len(texts) != len(labels):
            raise BackendError("texts and labels must have the same length")
        label_lists = [list(dict.fromkeys(given)) for given in labels]
        if any(not label_list for label_list in label_lists):
            raise BackendError("every text needs at least one label")
        premises = [
            text for text, ls in zip(texts, label_lists, strict=True) for _ in ls
        ]
        hypotheses = [
            self.hypothesis_template.format(label) for ls in label_lists for label in ls
        ]
        logits = self._entailment_logits(premises, hypotheses)
        results: list[dict[str, float]] = []
        offset = 0
        for label_list in label_lists:
            scores = torch.softmax(logits[offset : offset + len(label_list)], dim=-1)
            results.append(dict(zip(label_list, scores.tolist(), strict=True)))
            offset += len(label_list)
        return results
