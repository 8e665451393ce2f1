"""The operations a task kind asks of a backend, as ``Protocol`` types: one per operation name.

A task kind declares the operation it needs (``TaskKind.operation``) and is typed against its
protocol (``class TextVectorisation(TaskKind[EmbedsTexts])``), so ``run`` and ``forward`` call
only what the operation offers. A model family lists the operations it implements in
``Backend.operations`` (``inference/backends/base.py`` describes each); mypy checks that each
family's class satisfies the protocols of the operations it lists (``inference/backends/conformance.py``).

Here, below the backends, so that task kinds (which the web process imports) can name them:
nothing in this module imports torch; images are ``PIL.Image.Image`` for the type checker only.
Every argument is a batch, one entry per item (but echo's one text); the batch arguments are
positional.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeGuard

if TYPE_CHECKING:  # for the type checker only: a kind's module never loads an image library for its types
    from PIL.Image import Image

# on_text(prompt_index, generation_index, text_so_far), called as a streamed generation is written
OnText = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Generation:
    """One generated sequence: its new text, why it ended and how many new tokens it took."""

    text: str
    finish_reason: str  # "stop" (end of text or a stop string) or "length" (max_length reached)
    tokens: int


@dataclass(frozen=True)
class PromptGenerations:
    """What one prompt got: its length in tokens and its ``num_generations`` sequences."""

    prompt_tokens: int
    generations: list[Generation]

    @property
    def texts(self) -> list[str]:
        return [generation.text for generation in self.generations]

    @property
    def completion_tokens(self) -> int:
        return sum(generation.tokens for generation in self.generations)


class Offers(Protocol):
    """Every backend: whether it implements an operation (one of its ``operations``)."""

    def supports(self, operation: str, /) -> bool: ...


class ScoresEmotions(Protocol):
    """``emotion_scores``: per-label probabilities, and each label's decision threshold."""

    @property
    def thresholds(self) -> Mapping[str, float]: ...

    def emotion_scores(self, texts: list[str], /) -> list[dict[str, float]]: ...


class Generates(Protocol):
    """``generate``: ``params["num_generations"]`` continuations of each prompt (new text only);
    ``generate_counted`` is the same with the prompt's and each generation's token counts."""

    def generate(self, prompts: list[str], params: dict[str, Any], /,
                 on_text: OnText | None = None) -> list[list[str]]: ...

    def generate_counted(self, prompts: list[str], params: dict[str, Any], /,
                         on_text: OnText | None = None) -> list[PromptGenerations]: ...


class Chats(Protocol):
    """``chat``: the assistant's next message in each conversation, through the model's chat template."""

    def chat(self, conversations: list[list[dict[str, str]]], params: dict[str, Any], /,
             on_text: OnText | None = None) -> list[PromptGenerations]: ...


class ScoresTextLabels(Protocol):
    """``text_label_scores``: for each text a distribution over its own labels, summing to 1."""

    def text_label_scores(self, texts: list[str], labels: list[list[str]], /) -> list[dict[str, float]]: ...


class Answers(Protocol):
    """``answer``: each question about its context, after its (question, answer) history."""

    def answer(self, questions: list[str], contexts: list[str],
               histories: list[list[tuple[str, str]]], /) -> list[str]: ...


class Summarises(Protocol):
    """``summarise``: a short summary of each text."""

    def summarise(self, texts: list[str], /) -> list[str]: ...


class EmbedsTexts(Protocol):
    """``embed_texts``: one L2-normalised vector per text."""

    def embed_texts(self, texts: list[str], /) -> list[list[float]]: ...


class ClassifiesImages(Protocol):
    """``classify_images``: each image's ``top_k`` classes, probabilities renormalised over them."""

    def classify_images(self, images: list[Image], top_k: int, /) -> list[dict[str, float]]: ...


class ScoresImageLabels(Protocol):
    """``image_label_scores``: per image a distribution over its labels, and the labels not matched."""

    def image_label_scores(self, images: list[Image],
                           labels: list[list[str]], /) -> list[tuple[dict[str, float], list[str]]]: ...


class EmbedsImages(Protocol):
    """``embed_images``: one L2-normalised vector per image."""

    def embed_images(self, images: list[Image], /) -> list[list[float]]: ...


class EmbedsImageTexts(Protocol):
    """``embed_image_texts``: one L2-normalised joint vector per (image, text) pair."""

    def embed_image_texts(self, images: list[Image], texts: list[str], /) -> list[list[float]]: ...


class Echoes(Protocol):
    """``echo``: the text back (the internal echo kind's model)."""

    def echo(self, text: str, /) -> str: ...


class LabelsImages(ScoresImageLabels, Offers, Protocol):
    """What image-classification asks: labels for every model, and ``classify_images`` (see
    :func:`classifies_images`) for a closed-set model given no labels."""


def classifies_images(backend: Offers) -> TypeGuard[ClassifiesImages]:
    """Whether ``backend`` lists ``classify_images`` (a closed-set model); the type checker then lets
    the caller use it as a :class:`ClassifiesImages`."""
    return backend.supports("classify_images")


# Each operation name (as ``TaskKind.operation`` and ``Backend.operations`` spell it) -> its protocol.
OPERATIONS: dict[str, type] = {
    "emotion_scores": ScoresEmotions,
    "generate": Generates,
    "chat": Chats,
    "text_label_scores": ScoresTextLabels,
    "answer": Answers,
    "summarise": Summarises,
    "embed_texts": EmbedsTexts,
    "classify_images": ClassifiesImages,
    "image_label_scores": ScoresImageLabels,
    "embed_images": EmbedsImages,
    "embed_image_texts": EmbedsImageTexts,
    "echo": Echoes,
}
