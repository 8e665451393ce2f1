"""Precision on the CPU (``INFERENCE_CPU_DTYPE``): text encoders and classifiers run in bfloat16 where the CPU
multiplies bfloat16 natively, with answers a user cannot tell from float32's; the rest stay float32."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from inference.backends.base import LoadTarget
from inference.backends.prepacked import PrepackedLinear, linears_prepack
from inference.backends.sentence_encoder import SentenceEncoderBackend
from inference.runtime.loading import cpu_has_bfloat16, device_and_dtype

DEV = Path(__file__).resolve().parents[3] / "shared" / "data" / "goemotions" / "dev.tsv"


def test_the_setting_chooses_the_precision_per_family(settings):
    settings.INFERENCE_DEVICE = "cpu"
    settings.INFERENCE_CPU_DTYPE = "float32"
    assert device_and_dtype("sentence-encoder")[1] == torch.float32
    settings.INFERENCE_CPU_DTYPE = "bfloat16"
    assert device_and_dtype("causal-lm")[1] == torch.bfloat16  # asked for: every family
    settings.INFERENCE_CPU_DTYPE = "auto"
    native = torch.bfloat16 if cpu_has_bfloat16() else torch.float32
    assert device_and_dtype("sentence-encoder")[1] == native
    assert device_and_dtype("sequence-classifier")[1] == native
    assert device_and_dtype("causal-lm")[1] == torch.float32  # generation is not checked in bfloat16: float32
    assert device_and_dtype(None)[1] == torch.float32


def dev_comments(n: int) -> list[str]:
    if not DEV.is_file():
        pytest.skip(f"{DEV} is not here")
    with open(DEV, encoding="utf-8") as handle:
        return [line.split("\t", 1)[0] for _, line in zip(range(n), handle, strict=False)]


@pytest.mark.bundled
def test_bfloat16_vectors_of_the_bundled_encoder_keep_their_meaning():
    """all-MiniLM-L6-v2 in bfloat16 (as a worker loads it here under ``auto`` on such a CPU) against float32 on
    400 real comments: each vector points the same way, and each comment's nearest neighbour stays the same
    for nearly all of them."""
    from inference.backends import bundled

    texts = dev_comments(400)
    vectors = {}
    for dtype in (torch.float32, torch.bfloat16):
        target = LoadTarget(model_id="all-minilm-l6-v2", path=Path(bundled.minilm_dir()),
                            device=torch.device("cpu"), dtype=dtype)
        backend = SentenceEncoderBackend.load(target)
        vectors[dtype] = torch.tensor(backend.embed_texts(texts))
    full, half = vectors[torch.float32], vectors[torch.bfloat16]
    cosines = (full * half).sum(dim=1)
    assert cosines.min() > 0.999, float(cosines.min())
    nearest = []
    for matrix in (full, half):
        similarity = matrix @ matrix.T
        similarity.fill_diagonal_(-2)
        nearest.append(similarity.argmax(dim=1))
    assert (nearest[0] == nearest[1]).float().mean() > 0.95


def test_packed_linear_layers_give_the_plain_layers_numbers(tiny_models):
    """A bfloat16 encoder with its linear layers packed for oneDNN answers exactly as without."""
    from django.conf import settings as django_settings

    folder = Path(django_settings.DATA_DIR) / "tiny-models" / "tiny-emotion"
    target = LoadTarget(model_id="tiny-emotion", path=folder, device=torch.device("cpu"), dtype=torch.bfloat16)
    packed = SentenceEncoderBackend.load(target)  # bfloat16 on the CPU: loaded packed
    count = sum(isinstance(layer, PrepackedLinear) for layer in packed.model.modules())
    if count == 0:
        pytest.skip("this torch has no oneDNN packing for bfloat16 linear layers")
    plain = SentenceEncoderBackend.load(target)
    for parent in list(plain.model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, PrepackedLinear):
                layer = torch.nn.Linear(child.in_features, child.out_features, bias=child.bias is not None,
                                        dtype=torch.bfloat16)
                layer.weight, layer.bias = child.weight, child.bias
                setattr(parent, name, layer)
    assert not any(isinstance(layer, PrepackedLinear) for layer in plain.model.modules())
    texts = ["a short one", "a somewhat longer text, with punctuation and [NAME] in it", "x"]
    assert packed.embed_texts(texts) == plain.embed_texts(texts)
    assert linears_prepack(torch.nn.Sequential(torch.nn.Linear(4, 4))) == 0  # float32 layers stay plain
