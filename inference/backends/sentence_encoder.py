"""Sentence encoders: BERT-like encoders whose mean-pooled output is an embedding.

The bundled all-MiniLM-L6-v2 is the reference model. Embeddings are the mean
of the last hidden states over the attention mask, L2-normalised (the
sentence-transformers recipe for that model). Zero-shot text classification
compares a text's embedding with the embedding of each label written into a
template, and turns the cosine similarities into a distribution with a
temperature-scaled softmax.

Catalog ``options`` read here:

``max_length`` (int)
    Upper bound on tokens per text; the model's own limit still applies.
``label_template`` (str)
    Template with one ``{}`` that a label is written into before embedding;
    ``"{}"`` embeds the bare label.
``temperature`` (float)
    Softmax temperature applied to cosine similarities.
``batch_size`` (int)
    Texts per forward pass.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoConfig,
    AutoModel,
    AutoTokenizer,
    PretrainedConfig,
    PreTrainedTokenizerBase,
)

from inference.backends.base import Backend, BackendError, LoadTarget

# Chosen by measurement with the bundled MiniLM on 35 hand-written texts
# (20 plain, 15 ambiguous; 2-5 labels each). The template beat the bare label
# on accuracy, 32/35 against 29/35 (the bare label even put a football final
# under "cooking"); "This example is {}." scored like the bare label. With the
# template, the mean log-probability of the right label was -0.840 at T=0.01,
# -0.458 at 0.02, -0.363 at 0.03, -0.357 at 0.05 and -0.545 at 0.1; at 0.05
# the mean top probability (0.84) sits near the accuracy (0.91).
DEFAULT_LABEL_TEMPLATE = "This text is about {}."
DEFAULT_TEMPERATURE = 0.05
DEFAULT_BATCH_SIZE = 32

# Position tables of RoBERTa-like models hold two entries past the usable length.
_POSITION_OFFSET_TYPES = ("roberta", "xlm-roberta", "camembert", "longformer")


def model_max_length(
    tokenizer: PreTrainedTokenizerBase,
    config: PretrainedConfig,
    path: Path,
    requested: int | None = None,
) -> int:
    """The most tokens a sequence may have for this model.

    The smallest of: the tokenizer's ``model_max_length`` (when set), the
    model's position table, sentence-transformers' ``max_seq_length`` (when
    the folder has a ``sentence_bert_config.json``) and ``requested``.
    """
    limits: list[int] = []
    if 0 < tokenizer.model_max_length < 1_000_000:
        limits.append(int(tokenizer.model_max_length))
    positions = getattr(config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        offset = 2 if getattr(config, "model_type", "") in _POSITION_OFFSET_TYPES else 0
        limits.append(positions - offset)
    st_config = path / "sentence_bert_config.json" if path.is_dir() else None
    if st_config is not None and st_config.is_file():
        seq_length = json.loads(st_config.read_text()).get("max_seq_length")
        if isinstance(seq_length, int) and seq_length > 0:
            limits.append(seq_length)
    if requested is not None:
        limits.append(int(requested))
    return min(limits) if limits else 512


def tokenized_batches(
    tokenizer: Any, texts: Sequence[str], *, batch_size: int, max_length: int, device: torch.device
) -> Iterator[Any]:
    """``texts`` tokenized in padded, truncated batches of ``batch_size``, on ``device``."""
    for start in range(0, len(texts), batch_size):
        yield tokenizer(
            list(texts[start : start + batch_size]),
            padding=True,
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
        ).to(device)


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``hidden`` (batch, seq, dim) over the positions where the mask is 1, in float32."""
    mask = attention_mask.unsqueeze(-1).to(torch.float32)
    summed = (hidden.to(torch.float32) * mask).sum(dim=1)
    return summed / mask.sum(dim=1).clamp(min=1e-9)


def softmax_scores(
    similarities: torch.Tensor, labels: Sequence[str], temperature: float
) -> dict[str, float]:
    """A distribution over ``labels`` from their similarities, softmaxed at ``temperature``."""
    probabilities = torch.softmax(similarities.to(torch.float32) / temperature, dim=-1)
    return {
        label: float(p) for label, p in zip(labels, probabilities.tolist(), strict=True)
    }


def load_text_model(
    target: LoadTarget, model_class: Any
) -> tuple[torch.nn.Module, PreTrainedTokenizerBase, PretrainedConfig]:
    """Load a tokenizer and a ``model_class`` (an ``AutoModel*``) from ``target.path``, offline.

    The model is moved to ``target.device`` / ``target.dtype`` and put in eval
    mode. Any failure becomes a ``BackendError``.
    """
    path = Path(target.path)
    if not path.is_dir():
        raise BackendError(f"model folder {path} does not exist")
    try:
        config = AutoConfig.from_pretrained(path, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = model_class.from_pretrained(
            path, config=config, local_files_only=True, dtype=target.dtype
        )
    except (OSError, ValueError, KeyError) as exc:
        raise BackendError(
            f"could not load {target.model_id} from {path}: {exc}"
        ) from exc
    model.to(target.device)
    model.eval()
    return model, tokenizer, config


class SentenceEncoderBackend(Backend):
    """A BERT-like encoder whose mean-pooled, L2-normalised output embeds a text."""

    family = "sentence-encoder"
    operations = frozenset({"embed_texts", "text_label_scores"})

    def __init__(
        self,
        target: LoadTarget,
        model: torch.nn.Module,
        tokenizer: PreTrainedTokenizerBase,
        max_length: int,
    ) -> None:
        super().__init__(target)
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length
        options = target.options
        self.label_template: str = str(
            options.get("label_template", DEFAULT_LABEL_TEMPLATE)
        )
        self.temperature = float(options.get("temperature", DEFAULT_TEMPERATURE))
        self.batch_size = int(options.get("batch_size", DEFAULT_BATCH_SIZE))
        if "{}" not in self.label_template:
            raise BackendError("label_template must contain '{}'")
        if self.temperature <= 0:
            raise BackendError("temperature must be positive")

    @classmethod
    def load(cls, target: LoadTarget) -> SentenceEncoderBackend:
        """Load the encoder and its tokenizer from ``target.path`` (never downloads)."""
        model, tokenizer, config = load_text_model(target, AutoModel)
        max_length = model_max_length(
            tokenizer, config, Path(target.path), target.options.get("max_length")
        )
        return cls(target, model, tokenizer, max_length)

    @torch.inference_mode()
    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """Embeddings of ``texts`` as a (len(texts), dim) float32 tensor of unit rows."""
        chunks: list[torch.Tensor] = []
        for batch in tokenized_batches(self.tokenizer, texts, batch_size=self.batch_size,
                                       max_length=self.max_length, device=self.target.device):
            hidden = self.model(**batch).last_hidden_state
            pooled = mean_pool(hidden, batch["attention_mask"])
            chunks.append(torch.nn.functional.normalize(pooled, p=2, dim=-1).cpu())
        if not chunks:
            return torch.empty(0, 0)
        return torch.cat(chunks)

    def embed_texts(self, texts: Sequence[str]) -> list[list[float]]:
        """One L2-normalised embedding per text."""
        return self.encode(texts).tolist()

    def text_label_scores(
        self, texts: Sequence[str], labels: Sequence[Sequence[str]]
    ) -> list[dict[str, float]]:
        """For each text, a distribution over its labels by embedding similarity.

        Each label is written into ``label_template`` and embedded; the cosine
        similarities with the text's embedding are softmaxed at ``temperature``.
        Labels shared by several texts of the batch are embedded once.
        """
        if len(texts) != len(labels):
            raise BackendError("texts and labels must have the same length")
        if any(not label_list for label_list in labels):
            raise BackendError("every text needs at least one label")
        unique_labels = list(
            dict.fromkeys(label for label_list in labels for label in label_list)
        )
        label_vectors = self.encode(
            [self.label_template.format(label) for label in unique_labels]
        )
        index = {label: i for i, label in enumerate(unique_labels)}
        text_vectors = self.encode(texts)
        results: list[dict[str, float]] = []
        for text_vector, given in zip(text_vectors, labels, strict=True):
            # A repeated label would be counted twice and break the sum.
            label_list = list(dict.fromkeys(given))
            rows = label_vectors[[index[label] for label in label_list]]
            results.append(
                softmax_scores(rows @ text_vector, label_list, self.temperature)
            )
        return results
