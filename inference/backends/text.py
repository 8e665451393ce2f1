"""What the transformers text backends share: loading a model and its tokenizer, the token bound,
batched tokenizing, mean pooling, and ``TextModelBackend``, their common constructor and ``load``.

Used by the ``sentence-encoder``, ``sequence-classifier``, ``nli`` and
``extractive-qa`` families (and ``clip`` for its text side).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import torch
from transformers import AutoConfig, AutoTokenizer, PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase

from inference.backends.base import Backend, BackendError, LoadTarget

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
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, PretrainedConfig]:
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


class TextModelBackend(Backend):
    """A transformers text model with its tokenizer, reading at most ``max_length`` tokens a sequence.

    ``load`` reads the folder with ``auto_class``; the bound is the model's own,
    lowered by the ``max_length`` option (``default_max_length`` when unset).
    Subclasses read their other options in ``__init__`` after ``super().__init__``.
    """

    auto_class: ClassVar[Any]
    default_max_length: ClassVar[int | None] = None

    def __init__(self, target: LoadTarget, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                 config: PretrainedConfig, max_length: int) -> None:
        super().__init__(target)
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length

    @classmethod
    def load(cls, target: LoadTarget) -> Self:
        """Load the model and its tokenizer from ``target.path`` (never downloads)."""
        model, tokenizer, config = load_text_model(target, cls.auto_class)
        requested = target.options.get("max_length", cls.default_max_length)
        return cls(target, model, tokenizer, config, model_max_length(tokenizer, config, Path(target.path), requested))
