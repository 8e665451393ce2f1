"""Every input bound of every public task kind is refused before anything is queued.

The cases are generated from the declarations in ``inference/kinds/``: for each
parameter with a bound, the kind's own example with that one field pushed past
the bound must be a 400 naming the field and the bound, and no job row may
exist afterwards.
"""

from __future__ import annotations

import base64
import io
import struct
import time
import zlib
from typing import Any

import pytest
from django.conf import settings
from PIL import Image

from api.errors import error_status
from inference.catalog import catalog_get, catalog_models
from inference.errors import ApiError
from inference.inputs.tokens import token_counter
from inference.jobs import job_prepare, job_submit
from inference.kinds.base import IMAGE, MESSAGES, STRING, STRING_LIST, Param, TaskKind
from inference.models import InferenceJob
from inference.registry import public_kinds

pytestmark = pytest.mark.django_db


def png_bytes(size: tuple[int, int] = (8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def data_uri(raw: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(raw).decode()}"


PNG = data_uri(png_bytes())


def png_claiming(width: int, height: int) -> bytes:
    """A 1x1 PNG whose header (IHDR, with a valid CRC) claims ``width`` x ``height`` pixels: a few dozen bytes."""
    raw = bytearray(png_bytes((1, 1)))
    assert raw[12:16] == b"IHDR"
    raw[16:24] = struct.pack(">II", width, height)
    raw[29:33] = struct.pack(">I", zlib.crc32(bytes(raw[12:29])))
    return bytes(raw)


def example_input(kind: TaskKind) -> dict[str, Any]:
    """The kind's declared example, with a real image where it shows a placeholder."""
    return {name: PNG if kind.param(name).type == IMAGE else value for name, value in kind.example.items()}


def model_for(kind: TaskKind, *, needs_tokenizer: bool = False) -> str:
    """An installed model serving ``kind`` (the default first); with a tokenizer on disk when asked."""
    specs = [catalog_get(kind.default_model), *catalog_models()]
    for spec in specs:
        if spec is None or kind.name not in spec.kinds or not spec.installed:
            continue
        if needs_tokenizer and token_counter(spec.tokenizer_folder, spec.revision) is None:
            continue
        return spec.id
    raise AssertionError(f"no installed model serves {kind.name}")


def too_far(param: Param, bound: str) -> Any:
    """A value for ``param`` just past ``bound``."""
    value = getattr(param, bound)
    if param.type == MESSAGES:  # a conversation: one message too long, too many messages, too many tokens
        content = {"max_chars": "x" * (value + 1), "max_tokens": " ".join(["a"] * (value + 1))}.get(bound, "hi")
        return [{"role": "user", "content": content}] * (value + 1 if bound == "max_items" else 1)
    if bound == "minimum":
        return value - 1
    if bound == "maximum":
        return value + 1
    if bound == "max_chars":
        return ["x" * (value + 1)] if param.type == STRING_LIST else "x" * (value + 1)
    if bound == "max_items":
        if param.type == STRING_LIST:
            return [f"label {i}" for i in range(value + 1)]
        one = PNG if param.type == IMAGE else "a short text"
        return [one] * (value + 1)
    if bound == "max_tokens":
        text = " ".join(["a"] * (value + 1))  # at least one token per word
        assert len(text) <= param.max_chars, "the text would break max_chars first"
        return text
    raise AssertionError(bound)


def bound_cases() -> list[Any]:
    cases = []
    for kind in public_kinds():
        for param in kind.params:
            for bound in ("minimum", "maximum", "max_chars", "max_items", "max_tokens"):
                if getattr(param, bound) is not None:
                    cases.append(pytest.param(kind.name, param.name, bound, id=f"{kind.name}-{param.name}-{bound}"))
    return cases


def rejected(user, kind_name: str, model_id: str | None, data: dict[str, Any]) -> ApiError:
    with pytest.raises(ApiError) as exc:
        job_prepare(user=user, kind_name=kind_name, model_id=model_id, data=data)
    return exc.value


def mentions(message: str, number: float) -> bool:
    """The bound as the messages write it: 512, 1,024, 0.01, -5."""
    shown = str(int(number)) if float(number).is_integer() else str(number)
    return shown in message or (float(number).is_integer() and f"{int(number):,}" in message)


@pytest.fixture(autouse=True)
def no_job_is_recorded(db):
    yield
    assert InferenceJob.objects.count() == 0


@pytest.mark.parametrize("kind_name", [kind.name for kind in public_kinds()])
def test_every_example_is_accepted(user, tiny_models, kind_name):
    kind = next(k for k in public_kinds() if k.name == kind_name)
    _, spec, cleaned = job_prepare(user=user, kind_name=kind_name, model_id=model_for(kind),
                                            data=example_input(kind))
    assert kind_name in spec.kinds
    assert set(cleaned) == {p.name for p in kind.params}


@pytest.mark.parametrize(("kind_name", "param_name", "bound"), bound_cases())
def test_each_bound_is_refused_naming_the_field_and_the_bound(user, tiny_models, kind_name, param_name, bound):
    kind = next(k for k in public_kinds() if k.name == kind_name)
    param = kind.param(param_name)
    data = {**example_input(kind), param_name: too_far(param, bound)}
    error = rejected(user, kind_name, model_for(kind, needs_tokenizer=bound == "max_tokens"), data)
    assert error_status(error) == 400
    assert error.code == "invalid"
    assert error.field == param_name
    assert mentions(error.message, getattr(param, bound)), error.message


def list_item_cases() -> list[Any]:
    return [pytest.param(kind.name, p.name, id=f"{kind.name}-{p.name}") for kind in public_kinds()
            for p in kind.params if p.many and p.type == STRING and p.max_chars]


@pytest.mark.parametrize(("kind_name", "param_name"), list_item_cases())
def test_a_list_item_past_its_bound_is_named_by_index(user, tiny_models, kind_name, param_name):
    kind = next(k for k in public_kinds() if k.name == kind_name)
    param = kind.param(param_name)
    data = {**example_input(kind), param_name: ["fine", "x" * (param.max_chars + 1)]}
    error = rejected(user, kind_name, model_for(kind), data)
    assert (error_status(error), error.field) == (400, f"{param_name}[1]")
    assert mentions(error.message, param.max_chars)


# --- malformed requests ---------------------------------------------------------------


def test_missing_required_field(user):
    error = rejected(user, "text-classification", None, {"text": "Spain won the final."})
    assert (error_status(error), error.field) == (400, "labels")
    assert "required" in error.message


@pytest.mark.parametrize(("kind_name", "data", "field", "words"), [
    ("text-vectorisation", {"text": 42}, "text", "must be a string"),
    ("text-generation", {"text": "Once", "do_sample": "yes"}, "do_sample", "true or false"),
    ("text-generation", {"text": "Once", "max_length": "ten"}, "max_length", "integer"),
    ("text-generation", {"text": "Once", "max_length": 7.5}, "max_length", "integer"),
    ("text-generation", {"text": "Once", "temperature": "hot"}, "temperature", "number"),
    ("text-classification", {"text": "Hi", "labels": 3}, "labels", "list of strings"),
])
def test_wrong_type(user, kind_name, data, field, words):
    error = rejected(user, kind_name, None, data)
    assert (error_status(error), error.field) == (400, field)
    assert words in error.message


def test_unknown_field(user):
    error = rejected(user, "text-vectorisation", None, {"text": "Fine.", "colour": "red"})
    assert (error_status(error), error.field) == (400, "colour")
    assert "unknown field" in error.message


@pytest.mark.parametrize("labels", ["", " , ,", []])
def test_empty_labels(user, labels):
    error = rejected(user, "text-classification", None, {"text": "Spain won the final.", "labels": labels})
    assert (error_status(error), error.field) == (400, "labels")
    assert "label" in error.message


@pytest.mark.parametrize("kind", [k for k in public_kinds() if k.ranges], ids=lambda k: k.name)
def test_a_declared_range_keeps_low_at_most_high(user, kind):
    """A ``Range`` (low <= high): a given low above high is refused naming low; a default low is lowered."""
    for declared in kind.ranges:
        low, high = kind.param(declared.low), kind.param(declared.high)
        top = int(high.minimum if high.minimum is not None else 1)
        error = rejected(user, kind.name, None, {**kind.example, declared.low: top + 1, declared.high: top})
        assert (error_status(error), error.field) == (400, declared.low)
        assert f"must not be more than {declared.high} ({top})" in error.message
        if not low.required and low.default > top:
            cleaned = kind.clean({**kind.example, declared.high: top})
            assert cleaned[declared.low] == top


# --- images -----------------------------------------------------------------------------


def test_an_image_that_is_not_an_image(user):
    error = rejected(user, "image-classification", None, {"image": data_uri(b"hello, I am text"), "labels": "cat"})
    assert (error_status(error), error.field) == (400, "image")
    assert "not an image" in error.message


def test_an_image_that_is_not_base64(user):
    error = rejected(user, "image-vectorisation", None, {"image": "data:image/png;base64,@@not base64@@"})
    assert (error_status(error), error.field) == (400, "image")
    assert "base64" in error.message


def test_an_image_over_the_byte_limit(user):
    limit = settings.MAX_IMAGE_BYTES
    payload = "A" * ((limit + 1000) * 4 // 3)  # valid base64 characters, just past the limit once decoded
    error = rejected(user, "image-vectorisation", None, {"image": f"data:image/png;base64,{payload}"})
    assert (error_status(error), error.field) == (400, "image")
    assert f"at most {limit // 1_000_000} MB" in error.message


@pytest.mark.parametrize("side", [7_000, 30_000])
def test_a_decompression_bomb_is_refused_from_its_header(user, side):
    bomb = png_claiming(side, side)
    assert len(bomb) < 100
    started = time.perf_counter()
    error = rejected(user, "image-vectorisation", None, {"image": data_uri(bomb)})
    print(f"{side}x{side} PNG of {len(bomb)} bytes refused in {time.perf_counter() - started:.4f} s")
    assert (error_status(error), error.field) == (400, "image")
    assert f"at most {settings.MAX_IMAGE_PIXELS:,} pixels" in error.message


def test_an_image_item_in_a_list_is_named_by_index(user):
    error = rejected(user, "image-vectorisation", None, {"image": [PNG, data_uri(b"GIF89a but not really")]})
    assert (error_status(error), error.field) == (400, "image[1]")


# --- models -----------------------------------------------------------------------------


def test_unknown_model(user):
    error = rejected(user, "emotion", "no-such-model", {"text": "Fine."})
    assert (error_status(error), error.field) == (404, "model")
    assert "no-such-model" in error.message


def test_unknown_task_kind(user):
    assert error_status(rejected(user, "telepathy", None, {"text": "Fine."})) == 404


def test_hub_model_not_installed(user):
    assert not catalog_get("gpt2-medium").installed
    error = rejected(user, "text-generation", "gpt2-medium", {"text": "Once upon a time"})
    assert (error_status(error), error.code, error.field) == (409, "model_not_installed", "model")
    assert "manage.py models pull gpt2-medium" in error.message


def test_model_that_does_not_serve_the_kind(user):
    error = rejected(user, "emotion", "all-minilm-l6-v2", {"text": "Fine."})
    assert (error_status(error), error.field) == (400, "model")
    assert "does not serve emotion" in error.message


def test_job_submit_records_nothing_when_it_refuses(user):
    refusals = [
        ("text-generation", None, {"text": "Once", "max_length": 10_000}, 400),
        ("image-vectorisation", None, {"image": data_uri(png_claiming(30_000, 30_000))}, 400),
        ("text-generation", "gpt2-medium", {"text": "Once"}, 409),
        ("emotion", "no-such-model", {"text": "Fine."}, 404),
    ]
    for kind_name, model_id, data, status in refusals:
        with pytest.raises(ApiError) as exc:
            job_submit(user=user, api_key=None, kind_name=kind_name, model_id=model_id, data=data)
        assert error_status(exc.value) == status
    assert InferenceJob.objects.count() == 0
