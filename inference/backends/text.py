"""What the transformers text backends share: loading a model and its tokenizer, the token bound,
batched tokenizing, mean pooling, and ``TextModelBackend``, their common constructor and ``load``.

Used by the ``sentence-encoder``, ``sequence-classifier``, ``nli`` and
``extractive-qa`` families (and ``clip`` for its text side).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar, Self

import torch
from transformers import AutoConfig, AutoTokenizer, PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase

from inference.backends.base import Backend, BackendError, LoadTarget
from inference.backends.prepacked import linears_prepack

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


# Length grouping (``length_grouped_rows``): a batch of texts is sorted by token count and cut into
# groups, each padded only to its own longest text. A group closes at ``batch_size`` texts, or when the
# next (longer) text would make its padded size more than ``PADDING_WASTE`` times its real tokens.
# Measured with all-MiniLM-L6-v2 on GoEmotions dev comments (benchmarks/padding.py, one torch thread):
# 32 comments cost 10.1 core-ms each as one padded batch, 6.2 in groups (waste 1.3); 8 comments 9.8
# against 7.8. Wider groups (1.5: 7.1, 2.0: 9.1) or a minimum group size of 4 or 8 did worse.
PADDING_WASTE = 1.3


def length_groups(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices of ``lengths`` sorted by length and cut into groups (see ``PADDING_WASTE``)."""
    groups: list[list[int]] = []
    group: list[int] = []
    tokens = 0
    for index in sorted(range(len(lengths)), key=lengths.__getitem__):
        length = lengths[index]
        wasteful = length * (len(group) + 1) > PADDING_WASTE * (tokens + length)
        if group and (len(group) >= batch_size or wasteful):
            groups.append(group)
            group, tokens = [], 0
        group.append(index)
        tokens += length
    if group:
        groups.append(group)
    return groups


def _padded(tokenizer: Any, encoded: Any, group: list[int], device: torch.device) -> dict[str, torch.Tensor]:
    """The rows ``group`` of an unpadded encoding as padded tensors (pad token, mask 0, type 0)."""
    width = max(len(encoded["input_ids"][i]) for i in group)
    left = getattr(tokenizer, "padding_side", "right") == "left"
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    batch: dict[str, torch.Tensor] = {}
    for name, rows in encoded.items():
        fill = pad_id if name == "input_ids" else 0
        padded = []
        for i in group:
            row = list(rows[i])
            pad = [fill] * (width - len(row))
            padded.append(pad + row if left else row + pad)
        batch[name] = torch.tensor(padded, dtype=torch.long, device=device)
    return batch


def length_grouped_rows(
    tokenizer: Any, texts: Sequence[str], *, batch_size: int, max_length: int, device: torch.device,
    run: Callable[[dict[str, torch.Tensor]], torch.Tensor],
) -> torch.Tensor:
    """``run`` over ``texts`` tokenized (truncated to ``max_length``) in length groups; its output rows
    put back in the order of ``texts``, as one (len(texts), ...) tensor (empty (0, 0) for no texts).

    On the CPU, when torch runs fewer threads per operation than the machine has cores, the groups run
    side by side (``group_runners``), each on one thread of its own, under ``torch.inference_mode``.
    """
    if not texts:
        return torch.empty(0, 0)
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length)
    lengths = [len(ids) for ids in encoded["input_ids"]]
    groups = length_groups(lengths, batch_size)

    def run_group(group: list[int]) -> torch.Tensor:
        with torch.inference_mode():
            return run(_padded(tokenizer, encoded, group, device)).cpu()

    runners = group_runners() if device.type == "cpu" else None
    if runners is not None:
        groups = _balanced(groups, lengths, runners._max_workers)
    if runners is not None and len(groups) > 1:
        outputs = list(runners.map(run_group, groups))
    else:
        outputs = [run_group(g) for g in groups]
    result = torch.empty((len(texts), *outputs[0].shape[1:]), dtype=outputs[0].dtype)
    for group, rows in zip(groups, outputs, strict=True):
        result[torch.tensor(group)] = rows
    return result


def _balanced(groups: list[list[int]], lengths: Sequence[int], runners: int) -> list[list[int]]:
    """``groups`` cut so that ``runners`` threads share them evenly, largest first: a group costing more than
    a runner's share (rows times its longest row) is halved while it has two rows or more."""
    def cost(group: list[int]) -> int:
        return len(group) * max(lengths[i] for i in group)

    share = sum(cost(group) for group in groups) / runners
    pending = sorted(groups, key=cost, reverse=True)
    out: list[list[int]] = []
    while pending:
        group = pending.pop(0)
        if len(group) > 1 and cost(group) > share:
            half = len(group) // 2
            pending[:0] = [group[:half], group[half:]]
        else:
            out.append(group)
    return sorted(out, key=cost, reverse=True)


# Length groups side by side. With one torch thread per operation (TORCH_THREADS=1) a forward pass uses one
# core; the groups of a batch then run at once, one thread each, on as many threads as there are cores. On
# 2 cores, a batch of 19 GoEmotions comments (all-MiniLM-L6-v2, bfloat16, 3.2 groups): 55 ms and 4.4 core-ms
# a comment, against 72-80 ms and 5.2-5.7 with two torch threads per operation and the groups one after
# another (docs/perf/README.md). With torch's default (a thread per core) the groups run one after another.
_runners: ThreadPoolExecutor | None = None
_runners_size = 0
_runners_lock = threading.Lock()


def group_runners() -> ThreadPoolExecutor | None:
    """The process's pool for length groups, or None when a forward pass already uses every core."""
    global _runners, _runners_size
    size = max(1, (os.cpu_count() or 1) // max(1, torch.get_num_threads()))
    if size <= 1:
        return None
    with _runners_lock:
        if _runners is None or _runners_size != size:
            _runners = ThreadPoolExecutor(size, thread_name_prefix="length-group")
            _runners_size = size
        return _runners


def _forked() -> None:  # a forked child (prefork pool) has no threads of its parent's pool
    global _runners, _runners_lock
    _runners, _runners_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forked)


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
    mode; in bfloat16 on the CPU its linear layers are packed for oneDNN
    (``linears_prepack``). Any failure becomes a ``BackendError``.
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
    if target.device.type == "cpu" and target.dtype == torch.bfloat16:
        linears_prepack(model)  # weights packed once for oneDNN, not at every call (``prepacked``)
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
