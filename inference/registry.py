"""The entry point of the inference layer: which task kinds and model families exist.

- ``KINDS``: every task kind, discovered: each ``TaskKind`` subclass defined in a module of
  ``inference/kinds/`` (and of the modules named by the setting ``TASK_KIND_MODULES``), in the
  order the kinds declare (``TaskKind.order``, then name). Adding a kind is adding its file.
- ``FAMILIES``: every model family (how a model is loaded): its ``Backend`` class in
  ``inference/backends/<family>.py`` by name (imported only when a worker loads one), the
  operations it implements and the upload formats a user's model of it may come in.
- What follows from the two: which families can serve a kind (``kind_families``), which of them a
  user's upload may be (``upload_families``, the upload form's choices) and in which file formats.
- The catalog of models lives in ``inference/catalog/``.
"""

from __future__ import annotations

import pkgutil
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import import_module
from types import ModuleType

from django.conf import settings

from .kinds.base import TaskKind

KINDS_PACKAGE = "inference.kinds"


def _modules(name: str) -> list[ModuleType]:
    """The module ``name``, or every module of the package ``name`` (by module name)."""
    module = import_module(name)
    if not hasattr(module, "__path__"):
        return [module]
    return [module] + [import_module(f"{name}.{info.name}")
                       for info in sorted(pkgutil.iter_modules(module.__path__), key=lambda info: info.name)]


def kinds_discover(names: Iterable[str]) -> list[type[TaskKind]]:
    """The ``TaskKind`` subclasses defined (not just imported) in the modules or packages ``names``,
    ordered by their declared ``order``, then name. Helpers that are not kinds (no ``name``) are skipped."""
    found: list[type[TaskKind]] = []
    for name in names:
        for module in _modules(name):
            found += [value for value in vars(module).values()
                      if isinstance(value, type) and issubclass(value, TaskKind) and value is not TaskKind
                      and value.__module__ == module.__name__ and "name" in vars(value)]
    return sorted(found, key=lambda cls: (cls.order, cls.name))


def _kinds(classes: list[type[TaskKind]]) -> dict[str, TaskKind]:
    kinds: dict[str, TaskKind] = {}
    for cls in classes:
        if cls.name in kinds:
            raise RuntimeError(f"two task kinds are named {cls.name!r}: {type(kinds[cls.name]).__module__}."
                               f"{type(kinds[cls.name]).__qualname__} and {cls.__module__}.{cls.__qualname__}")
        kinds[cls.name] = cls()
    return kinds


KINDS: dict[str, TaskKind] = _kinds(kinds_discover([KINDS_PACKAGE, *settings.TASK_KIND_MODULES]))

# Upload formats (``inference.uploads.archive.archive_format`` tells them from the file name): a transformers
# folder saved with save_pretrained, zipped or tarred, or a single GGUF file.
FOLDER_UPLOADS: tuple[str, ...] = ("zip", "tar.gz")
GGUF_UPLOAD = "gguf"


@dataclass(frozen=True)
class Family:
    """A model family as the web process knows it, without importing torch.

    ``operations`` repeats the ``Backend`` class's own (which needs torch to import):
    ``backend_class`` refuses a class that disagrees, and the tests compare every one.
    """

    backend: str  # "module:Class"
    operations: frozenset[str]
    uploads: tuple[str, ...] = ()  # the upload formats a user's model of this family may come in


FAMILIES: dict[str, Family] = {
    "echo": Family("inference.backends.echo:EchoBackend", frozenset({"echo"})),
    "sequence-classifier": Family("inference.backends.sequence_classifier:SequenceClassifierBackend",
                                  frozenset({"emotion_scores"}), FOLDER_UPLOADS),
    "sentence-encoder": Family("inference.backends.sentence_encoder:SentenceEncoderBackend",
                               frozenset({"embed_texts", "text_label_scores"}), FOLDER_UPLOADS),
    "nli": Family("inference.backends.nli:NliZeroShotBackend", frozenset({"text_label_scores"}), FOLDER_UPLOADS),
    "extractive-qa": Family("inference.backends.extractive_qa:ExtractiveQABackend", frozenset({"answer"}),
                            FOLDER_UPLOADS),
    "causal-lm": Family("inference.backends.causal_lm:CausalLMBackend",
                        frozenset({"generate", "chat", "answer", "summarise"}), (*FOLDER_UPLOADS, GGUF_UPLOAD)),
    "seq2seq": Family("inference.backends.seq2seq:Seq2SeqBackend",
                      frozenset({"generate", "summarise", "answer", "emotion_scores"}), FOLDER_UPLOADS),
    # Loaded from a .pth file, which uploads refuse (pickle): catalog models only.
    "efficientnet": Family("inference.backends.efficientnet:EfficientNetBackend",
                           frozenset({"classify_images", "image_label_scores", "embed_images"})),
    "clip": Family("inference.backends.clip:ClipBackend",
                   frozenset({"image_label_scores", "embed_images", "embed_texts", "embed_image_texts"}),
                   FOLDER_UPLOADS),
}


def kind_get(name: str) -> TaskKind | None:
    return KINDS.get(name)


def public_kinds() -> list[TaskKind]:
    """The task kinds offered to users, in declaration order."""
    return [kind for kind in KINDS.values() if not kind.internal]


def kinds_defaulting_to(model_id: str) -> tuple[str, ...]:
    """The kinds that name ``model_id`` as their default model: the catalog counts them among the kinds
    it serves, so a new kind's file is enough to put it on its default model."""
    return tuple(kind.name for kind in KINDS.values() if kind.default_model == model_id)


def kind_families(kind: TaskKind, *, file_format: str | None = None) -> tuple[str, ...]:
    """The families whose models can serve ``kind`` (their backends do its operation), in ``FAMILIES``
    order; with ``file_format``, only those a user's model uploaded in that format can be."""
    return tuple(name for name, family in FAMILIES.items() if kind.operation in family.operations
                 and (file_format is None or file_format in family.uploads))


def upload_families() -> dict[str, tuple[str, ...]]:
    """Kind -> the families a user's uploaded model of that kind may be, for every public kind that
    has one (the upload form's choices, the build's architecture check)."""
    found = {kind.name: tuple(name for name in kind_families(kind) if FAMILIES[name].uploads)
             for kind in public_kinds()}
    return {name: families for name, families in found.items() if families}


def upload_formats(kind: TaskKind) -> tuple[str, ...]:
    """The upload formats in which a user's model can serve ``kind``."""
    formats = {fmt for name in kind_families(kind) for fmt in FAMILIES[name].uploads}
    return tuple(fmt for fmt in (*FOLDER_UPLOADS, GGUF_UPLOAD) if fmt in formats)


def format_kinds(file_format: str) -> tuple[str, ...]:
    """The public kinds a user's model uploaded in ``file_format`` can serve."""
    return tuple(kind.name for kind in public_kinds() if file_format in upload_formats(kind))


def backend_class(family: str):
    """The Backend subclass of a model family; refuses one whose operations disagree with ``FAMILIES``."""
    declared = FAMILIES[family]
    module_name, _, class_name = declared.backend.partition(":")
    cls = getattr(import_module(module_name), class_name)
    if frozenset(cls.operations) != declared.operations:
        raise RuntimeError(f"{declared.backend} implements {sorted(cls.operations)} but FAMILIES[{family!r}] in "
                           f"inference/registry.py declares {sorted(declared.operations)}: make them agree")
    return cls
