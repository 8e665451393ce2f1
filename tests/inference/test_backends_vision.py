"""Image backends: the bundled EfficientNet-Lite0 on real photos, and a tiny random CLIP.

The photos are the sandbox's examples in ``static/examples`` (see CREDITS.md).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from PIL import Image

from inference.backends.base import BackendError, LoadTarget
from inference.backends.clip import ClipBackend
from inference.backends.imagenet_labels import LabelMatcher, imagenet_classes, match_by_name, readable_names
from tests.tinymodels import build_tiny_clip

EXAMPLES = Path(__file__).resolve().parents[2] / "static" / "examples"
CAT_CLASSES = {"tabby cat", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"}


def photo(name: str) -> Image.Image:
    with Image.open(EXAMPLES / name) as image:
        return image.convert("RGB")


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


# --- label matching by name (no model needed) ---------------------------------


def test_hypernyms_collect_the_classes_under_them():
    assert set(match_by_name("cat").class_names()) == CAT_CLASSES
    assert len(match_by_name("dogs").classes) == 118
    assert match_by_name("eagle").class_names() == ["bald eagle"]
    assert match_by_name("bluejay").class_names() == ["jay"]
    assert "tiger cat" not in match_by_name("tiger").class_names()


def test_readable_names_are_unique_and_extend_bare_modifiers():
    names = imagenet_classes().readable
    assert len({name.lower() for name in names}) == 1000
    assert names[281] == "tabby cat"
    assert readable_names([["pizza", "pizza pie"]]) == ["pizza"]


# --- EfficientNet-Lite0, the bundled weights ----------------------------------


@pytest.fixture(scope="module")
def efficientnet():
    from inference.backends.bundled import efficientnet_lite0_weights
    from inference.backends.efficientnet import EfficientNetBackend

    target = LoadTarget(model_id="efficientnet-lite0", path=efficientnet_lite0_weights(), device=torch.device("cpu"))
    return EfficientNetBackend.load(target)


@pytest.mark.bundled
def test_cat_photo_has_a_cat_class_in_its_top_three(efficientnet):
    [top] = efficientnet.classify_images([photo("chelsea.png")], top_k=3)
    assert CAT_CLASSES & set(top)
    assert math.isclose(sum(top.values()), 1.0, abs_tol=1e-5)


@pytest.mark.bundled
def test_coffee_photo_is_espresso_or_cup_first(efficientnet):
    [top] = efficientnet.classify_images([photo("coffee.png")], top_k=5)
    assert max(top, key=top.get) in {"espresso", "cup"}


@pytest.mark.bundled
def test_batched_and_single_results_agree(efficientnet):
    images = [photo("chelsea.png"), photo("coffee.png"), photo("rocket.jpg")]
    batched = efficientnet.classify_images(images, top_k=3)
    single = [efficientnet.classify_images([image], top_k=3)[0] for image in images]
    for one, other in zip(batched, single, strict=True):
        assert list(one) == list(other)


@pytest.mark.bundled
@pytest.mark.parametrize(
    ("name", "labels", "winner"),
    [
        ("chelsea.png", ["cat", "dog", "car"], "cat"),
        ("coffee.png", ["espresso", "tea", "beer"], "espresso"),
        ("rocket.jpg", ["rocket", "airplane", "bird"], "rocket"),
    ],
)
def test_the_right_label_wins(efficientnet, name, labels, winner):
    [(scores, unmatched)] = efficientnet.image_label_scores([photo(name)], [labels])
    assert unmatched == []
    assert max(scores, key=scores.get) == winner
    assert math.isclose(sum(scores.values()), 1.0, abs_tol=1e-5)


@pytest.mark.bundled
def test_a_label_no_class_fits_is_reported_not_scored(efficientnet):
    [(scores, unmatched)] = efficientnet.image_label_scores([photo("chelsea.png")], [["cat", "zorblefrax"]])
    assert unmatched == ["zorblefrax"]
    assert scores == {"cat": pytest.approx(1.0)}


@pytest.mark.bundled
def test_birds_imagenet_lacks_are_unmatched():
    labels = ["crow", "falcon", "eagle", "raven", "pigeon", "cardinal", "bluejay", "robin", "sparrow"]
    matches = LabelMatcher().match(labels)
    assert {label for label, found in matches.items() if found.classes} == {"eagle", "bluejay", "robin"}


@pytest.mark.bundled
def test_cat_vector_is_nearer_a_cropped_cat_than_coffee(efficientnet):
    cat = photo("chelsea.png")
    width, height = cat.size
    cropped = cat.crop((width // 20, height // 20, width - width // 20, height - height // 20))
    cat_vector, cropped_vector, coffee_vector = efficientnet.embed_images([cat, cropped, photo("coffee.png")])
    assert len(cat_vector) == 1280
    assert math.isclose(cosine(cat_vector, cat_vector), 1.0, abs_tol=1e-5)
    assert cosine(cat_vector, cropped_vector) > cosine(cat_vector, coffee_vector) + 0.3


# --- CLIP, tiny random weights --------------------------------------------------


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    path = build_tiny_clip(tmp_path_factory.mktemp("models") / "tiny-clip")
    return ClipBackend.load(LoadTarget(model_id="tiny-clip", path=path, device=torch.device("cpu")))


def test_clip_label_scores_are_a_distribution_over_each_images_labels(tiny_clip):
    label_sets = [["cat", "dog", "car"], ["espresso", "tea"]]
    results = tiny_clip.image_label_scores([photo("chelsea.png"), photo("coffee.png")], label_sets)
    for (scores, unmatched), labels in zip(results, label_sets, strict=True):
        assert list(scores) == labels
        assert math.isclose(sum(scores.values()), 1.0, abs_tol=1e-5)
        assert unmatched == []


def test_clip_vectors_are_unit_length(tiny_clip):
    images = [photo("chelsea.png"), photo("rocket.jpg")]
    vectors = (
        tiny_clip.embed_images(images)
        + tiny_clip.embed_texts(["a cat", "a rocket " * 200])
        + tiny_clip.embed_image_texts(images, ["a cat", "a rocket"])
    )
    for vector in vectors:
        assert math.isclose(cosine(vector, vector), 1.0, abs_tol=1e-5)


def test_clip_refuses_mismatched_batches(tiny_clip):
    with pytest.raises(BackendError):
        tiny_clip.embed_image_texts([photo("chelsea.png")], ["a", "b"])
