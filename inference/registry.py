"""The entry point of the inference layer: which task kinds and model families exist.

- ``KINDS``: every task kind, from ``inference/kinds/<kind>.py``.
- ``FAMILIES``: every model family (how a model is loaded), from
  ``inference/backends/<family>.py``, imported only when a worker loads one.
- The catalog of models lives in ``inference/catalog/``.

Adding a task kind: write its file, add it to ``_KIND_CLASSES`` (see CONTRIBUTING.md).
"""

from __future__ import annotations

from importlib import import_module

from .kinds.base import TaskKind
from .kinds.chat import Chat
from .kinds.echo import Echo
from .kinds.emotion import Emotion
from .kinds.image_classification import ImageClassification
from .kinds.image_text_vectorisation import ImageTextVectorisation
from .kinds.image_vectorisation import ImageVectorisation
from .kinds.qa import QA
from .kinds.summarisation import Summarisation
from .kinds.text_classification import TextClassification
from .kinds.text_generation import TextGeneration
from .kinds.text_vectorisation import TextVectorisation

_KIND_CLASSES: tuple[type[TaskKind], ...] = (
    Emotion, TextGeneration, Chat, ImageClassification, TextClassification, QA, Summarisation,
    TextVectorisation, ImageVectorisation, ImageTextVectorisation, Echo,
)

KINDS: dict[str, TaskKind] = {cls.name: cls() for cls in _KIND_CLASSES}

# family -> "module:Class"; imported lazily so the web process never imports torch models.
FAMILIES: dict[str, str] = {
    "echo": "inference.backends.echo:EchoBackend",
    "sequence-classifier": "inference.backends.sequence_classifier:SequenceClassifierBackend",
    "sentence-encoder": "inference.backends.sentence_encoder:SentenceEncoderBackend",
    "nli": "inference.backends.nli:NliZeroShotBackend",
    "extractive-qa": "inference.backends.extractive_qa:ExtractiveQABackend",
    "causal-lm": "inference.backends.causal_lm:CausalLMBackend",
    "seq2seq": "inference.backends.seq2seq:Seq2SeqBackend",
    "efficientnet": "inference.backends.efficientnet:EfficientNetBackend",
    "clip": "inference.backends.clip:ClipBackend",
}


def kind_get(name: str) -> TaskKind | None:
    return KINDS.get(name)


def public_kinds() -> list[TaskKind]:
    """The task kinds offered to users, in declaration order."""
    return [kind for kind in KINDS.values() if not kind.internal]


def backend_class(family: str):
    """The Backend subclass of a model family."""
    module_name, _, class_name = FAMILIES[family].partition(":")
    return getattr(import_module(module_name), class_name)
