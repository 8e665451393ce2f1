"""What follows from the declarations: kinds discovered from their files, families' operations as their
backends implement them, which families and file formats can serve a kind, and README's list of kinds."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError

from inference.backends.base import LoadTarget
from inference.catalog import MODELS
from inference.errors import InvalidInput
from inference.kinds.base import ItemResult, TaskKind
from inference.registry import FAMILIES, KINDS, _kinds, backend_class, format_kinds, kinds_discover, upload_formats
from inference.uploads.archive import ARCHIVE_FORMATS, KIND_FAMILIES
from inference.uploads.services import model_upload_create

KINDS_DIR = Path(__file__).resolve().parents[2] / "inference" / "kinds"


def _classes_in_files() -> set[str]:
    """The TaskKind subclasses defined in inference/kinds/*.py, read from the source."""
    found = set()
    for path in KINDS_DIR.glob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if not isinstance(node, ast.ClassDef):
                continue
            bases = [b.value if isinstance(b, ast.Subscript) else b for b in node.bases]  # TaskKind or TaskKind[P]
            if any(getattr(b, "id", "") == "TaskKind" for b in bases):
                found.add(node.name)
    return found


def test_every_kind_in_the_kinds_folder_is_registered_in_the_listed_order():
    assert {type(kind).__name__ for kind in KINDS.values()} == _classes_in_files()
    assert list(KINDS) == ["emotion", "text-generation", "chat", "image-classification", "text-classification", "qa",
                           "summarisation", "text-vectorisation", "image-vectorisation", "image-text-vectorisation",
                           "echo"]


def test_discovery_reads_a_module_or_a_package_and_refuses_two_kinds_of_one_name():
    assert [cls.name for cls in kinds_discover(["tests.extra_kinds"])] == ["text-length"]
    assert [cls.name for cls in kinds_discover(["tests.extra_kinds.text_length"])] == ["text-length"]
    twice = kinds_discover(["inference.kinds.emotion", "inference.kinds.emotion"])
    with pytest.raises(RuntimeError, match="two task kinds are named 'emotion'"):
        _kinds(twice)


@pytest.mark.parametrize("family", FAMILIES)
def test_declared_operations_are_the_backend_classes_own(family):
    # The web process knows a family's operations without importing torch; the worker's class must agree.
    assert backend_class(family).operations == FAMILIES[family].operations


def test_a_backend_that_disagrees_with_its_declaration_is_refused(monkeypatch):
    monkeypatch.setitem(FAMILIES, "echo", FAMILIES["echo"].__class__(FAMILIES["echo"].backend, frozenset({"nothing"})))
    with pytest.raises(RuntimeError, match="implements \\['echo'\\] but FAMILIES\\['echo'\\]"):
        backend_class("echo")


@pytest.mark.parametrize("spec", MODELS, ids=lambda spec: spec.id)
def test_every_catalog_model_does_the_operations_of_its_kinds(spec):
    for name in spec.kinds:
        assert KINDS[name].operation in FAMILIES[spec.family].operations, (spec.id, name)
        if FAMILIES[spec.family].uploads:  # a user's model of the same family may serve the kind too
            assert spec.family in KIND_FAMILIES[name], (spec.id, name)


def test_upload_families_follow_the_operations():
    assert "echo" not in KIND_FAMILIES  # internal
    assert KIND_FAMILIES["chat"] == ("causal-lm",)
    assert KIND_FAMILIES["emotion"] == ("sequence-classifier", "seq2seq")  # Backprop's T5 answers emotions
    assert KIND_FAMILIES["text-vectorisation"] == ("sentence-encoder", "clip")
    assert "efficientnet" not in {f for families in KIND_FAMILIES.values() for f in families}  # .pth: never uploaded
    assert set(ARCHIVE_FORMATS.values()) == {fmt for family in FAMILIES.values() for fmt in family.uploads}


def test_a_gguf_file_serves_the_kinds_of_causal_lm_models():
    assert format_kinds("gguf") == ("text-generation", "chat", "qa", "summarisation")
    assert upload_formats(KINDS["emotion"]) == ("zip", "tar.gz")


@pytest.mark.django_db
def test_a_gguf_upload_for_another_kind_is_refused_naming_the_kinds_it_can_serve(user):
    with pytest.raises(InvalidInput) as refused:
        model_upload_create(user=user, name="my-gguf", task_kind="emotion", description="",
                            file=SimpleUploadedFile("model.gguf", b"GGUF" + b"\0" * 16))
    assert refused.value.field == "file"
    assert refused.value.problem == "a .gguf file can only serve text-generation, chat, qa, summarisation."


class _Counting(TaskKind):
    """A kind over the echo backend whose list inputs are items, for the base class's run()."""

    name = "counting"
    item_params = ("text",)

    def forward(self, backend, items, **context):
        self.seen = [item["text"] for item in items]
        self.streamed = context.get("on_text") is not None
        return [backend.echo(item["text"]) for item in items]

    def postprocess(self, text, item):
        if text == "boom":
            return ItemResult(error="boom")
        return ItemResult(output={"length": len(text), "tag": item["tag"]}, prompt_tokens=len(text),
                          finish_reasons=["stop"])


def test_run_flattens_one_forward_and_gives_a_list_where_a_list_came_in():
    backend = backend_class("echo").load(LoadTarget(model_id="echo", path=Path("."), device=torch.device("cpu")))
    kind = _Counting()
    results = kind.run(backend, [{"text": "abc", "tag": 1}, {"text": ["de", "f"], "tag": 2}, {"text": ["boom", "x"],
                                                                                             "tag": 3}],
                       on_text=lambda index, text: None)
    assert kind.seen == ["abc", "de", "f", "boom", "x"] and not kind.streamed  # one call; no stream for a batch
    assert results[0].output == {"length": 3, "tag": 1} and results[0].prompt_tokens == 3
    assert results[1].output == {"length": [2, 1], "tag": [2, 2]}
    assert (results[1].prompt_tokens, results[1].finish_reasons) == (3, ["stop", "stop"])
    assert results[2].error == "boom" and results[2].output is None
    kind.run(backend, [{"text": "abc", "tag": 1}], on_text=lambda index, text: None)
    assert kind.streamed  # one job of one item: the stream reaches forward
    kind.run(backend, [{"text": ["abc"], "tag": 1}], on_text=lambda index, text: None)
    assert not kind.streamed  # a list of one is a list: its answer is a list, not a stream of one text


def test_readme_lists_every_kind_as_declared():
    call_command("docs_kinds", "--check")


def test_a_stale_readme_list_fails_the_check(tmp_path):
    readme = Path(__file__).resolve().parents[2] / "README.md"
    stale = tmp_path / "README.md"
    stale.write_text(readme.read_text().replace("| `chat` |", "| `chatting` |"))
    with pytest.raises(CommandError, match="stale"):
        call_command("docs_kinds", "--check", "--file", str(stale))
    call_command("docs_kinds", "--file", str(stale))
    assert stale.read_text() == readme.read_text()
