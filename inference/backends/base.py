"""The contract every model family implements.

A backend is a model loaded in a worker process, ready to run batches. Task
kinds never touch transformers objects directly: they call the operations
below, each of which takes a *batch* (a list, one entry per item) so that
concurrent jobs can share one forward pass.

Operations (a backend implements the ones its architecture supports and lists
their names in ``operations``):

``emotion_scores(texts) -> list[dict[str, float]]``
    Per-label probabilities (sigmoid for multi-label heads). The backend's
    ``thresholds`` attribute maps label -> decision threshold (default 0.5).
``generate(prompts, params, on_text=None) -> list[list[str]]``
    For each prompt, ``params["num_generations"]`` continuations (new text
    only, the prompt is not repeated). ``params`` holds the validated
    text-generation parameters (min_length/max_length count *new* tokens).
    ``on_text(prompt_index, generation_index, text_so_far)`` is called as
    text is produced when streaming is possible (single prompt, one
    generation, no beams).
``chat(conversations, params, on_text=None) -> list[PromptGenerations]``
    The assistant's next message for each conversation (a list of
    ``{"role", "content"}`` dicts), through the model's own chat template:
    ``params`` as for ``generate``; each result carries the prompt's token
    count and per generation its text, finish reason and token count
    (``kinds/operations.py``). ``generate_counted`` is ``generate`` with
    the same counts.
``text_label_scores(texts, labels) -> list[dict[str, float]]``
    Zero-shot text classification: for each text a distribution over its
    labels (``labels[i]`` is the label list of ``texts[i]``) summing to 1.
``answer(questions, contexts, histories) -> list[str]``
    Question answering; ``histories[i]`` is a list of (question, answer)
    pairs that came before (Backprop's prev_q / prev_a).
``summarise(texts) -> list[str]``
``embed_texts(texts) -> list[list[float]]``  (L2-normalised)
``classify_images(images, top_k) -> list[dict[str, float]]``
    Closed-set classification: the top_k classes with probabilities,
    renormalised over those top_k so they sum to 1.
``image_label_scores(images, labels) -> list[tuple[dict[str, float], list[str]]]``
    Per image: a distribution over its labels summing to 1, and the labels
    that the model could not match (closed-set models only; CLIP matches all).
``embed_images(images) -> list[list[float]]``  (L2-normalised)
``embed_image_texts(images, texts) -> list[list[float]]``  (L2-normalised)

Images are ``PIL.Image.Image`` objects in RGB mode, already validated.

Each operation is also a ``Protocol`` in ``inference/kinds/operations.py`` (the task kinds are
typed against them), and ``inference/backends/conformance.py`` has mypy check that every family
satisfies the protocols of the operations it lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

import torch


@dataclass(frozen=True)
class LoadTarget:
    """Where a model's files are and how to put it on a device.

    ``path`` is a local folder (transformers format) or a file (GGUF, .pth).
    ``options`` carries family-specific settings from the catalog entry
    (for example ``{"gguf_file": "..."}`` or prompt templates).
    """

    model_id: str
    path: Path
    device: torch.device
    dtype: torch.dtype = torch.float32
    options: dict[str, Any] = field(default_factory=dict)
    cache_dir: Path | None = None  # for one-off conversions (GGUF -> safetensors)


class Backend:
    """A loaded model. Subclasses set ``family`` and ``operations``."""

    family: ClassVar[str] = ""
    operations: ClassVar[frozenset[str]] = frozenset()
    # Runs in bfloat16 on a CPU with native bfloat16 arithmetic when ``INFERENCE_CPU_DTYPE=auto``: set only
    # for families whose answers were checked against float32 (``inference.runtime.loading.device_and_dtype``).
    cpu_bfloat16: ClassVar[bool] = False

    def __init__(self, target: LoadTarget) -> None:
        self.target = target

    @classmethod
    def load(cls, target: LoadTarget) -> Self:
        """Load weights and tokenizers from ``target.path``. Never downloads."""
        raise NotImplementedError

    def memory_bytes(self) -> int:
        """Approximate resident size, for the worker's cache budget."""
        total = 0
        for value in vars(self).values():
            if isinstance(value, torch.nn.Module):
                total += sum(p.numel() * p.element_size() for p in value.parameters())
                total += sum(b.numel() * b.element_size() for b in value.buffers())
        return total

    def supports(self, operation: str) -> bool:
        return operation in self.operations


class BackendError(Exception):
    """A model could not be loaded or could not run an input (a user-facing reason)."""
