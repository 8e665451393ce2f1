"""Every model family satisfies the protocols of the operations it lists, as mypy checks them.

One function per family (``inference.registry.FAMILIES``): it takes the family's backend and
returns it as the protocol (``inference/kinds/operations.py``) of each operation in its
``operations``. mypy (``make lint``) rejects a return that does not satisfy its protocol: a
missing method, an argument narrower than a task kind passes, another return type.
``tests/inference/test_operations.py`` checks that each function names exactly its family's
operations, and that every family has one. Nothing calls these functions; only that test
imports this module (it imports every family, torch with them).
"""

from __future__ import annotations

from inference.backends.causal_lm import CausalLMBackend
from inference.backends.clip import ClipBackend
from inference.backends.echo import EchoBackend
from inference.backends.efficientnet import EfficientNetBackend
from inference.backends.extractive_qa import ExtractiveQABackend
from inference.backends.nli import NliZeroShotBackend
from inference.backends.sentence_encoder import SentenceEncoderBackend
from inference.backends.seq2seq import Seq2SeqBackend
from inference.backends.sequence_classifier import SequenceClassifierBackend
from inference.kinds.operations import (
    Answers,
    Chats,
    ClassifiesImages,
    Echoes,
    EmbedsImages,
    EmbedsImageTexts,
    EmbedsTexts,
    Generates,
    Offers,
    ScoresEmotions,
    ScoresImageLabels,
    ScoresTextLabels,
    Summarises,
)


def echo(backend: EchoBackend) -> tuple[Offers, Echoes]:
    return backend, backend


def sequence_classifier(backend: SequenceClassifierBackend) -> tuple[Offers, ScoresEmotions]:
    return backend, backend


def sentence_encoder(backend: SentenceEncoderBackend) -> tuple[Offers, EmbedsTexts, ScoresTextLabels]:
    return backend, backend, backend


def nli(backend: NliZeroShotBackend) -> tuple[Offers, ScoresTextLabels]:
    return backend, backend


def extractive_qa(backend: ExtractiveQABackend) -> tuple[Offers, Answers]:
    return backend, backend


def causal_lm(backend: CausalLMBackend) -> tuple[Offers, Generates, Chats, Answers, Summarises]:
    return backend, backend, backend, backend, backend


def seq2seq(backend: Seq2SeqBackend) -> tuple[Offers, Generates, Summarises, Answers, ScoresEmotions]:
    return backend, backend, backend, backend, backend


def efficientnet(backend: EfficientNetBackend) -> tuple[Offers, ClassifiesImages, ScoresImageLabels, EmbedsImages]:
    return backend, backend, backend, backend


def clip(backend: ClipBackend) -> tuple[Offers, ScoresImageLabels, EmbedsImages, EmbedsTexts, EmbedsImageTexts]:
    return backend, backend, backend, backend, backend
