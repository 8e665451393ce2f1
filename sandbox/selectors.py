"""Reads for the sandbox pages: a task kind's form, models and keys, all from the kind's declaration."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.templatetags.static import static

from dashboard.selectors import api_key_list
from inference.catalog import ModelSpec, catalog_models
from inference.jobs.selectors import model_list
from inference.kinds.base import (
    BOOLEAN,
    IMAGE,
    INTEGER,
    MESSAGES,
    NUMBER,
    STRING,
    STRING_LIST,
    Param,
    Range,
    TaskKind,
    json_default,
)
from inference.registry import kind_families, upload_families, upload_formats

# What the sandbox starts with where it differs from the API's default: the
# sandbox shows emotion scores on its chips, so it asks for them.
SANDBOX_INITIAL: dict[str, dict[str, Any]] = {"emotion": {"scores": True}}

# The photo an image kind's "Use example" loads (the kinds' examples hold a placeholder data URI).
EXAMPLE_IMAGE = "examples/chelsea.png"

SLIDER_SPAN = 1000  # a number gets a slider beside its box when its range is at most this wide


@dataclass
class Field:
    """One control of the generated form: a parameter and how it is shown."""

    param: Param
    widget: str
    initial: Any
    step: float | str | None = None
    slider: bool = False

    @property
    def name(self) -> str:
        return self.param.name

    @property
    def help(self) -> str:
        return f"{self.param.help} ({self.param.bounds_text()})"

    @property
    def default_text(self) -> str:
        return "required" if self.param.required else json_default(self.param.default)

    @property
    def initial_text(self) -> str:
        if self.initial is None or self.param.required:
            return ""
        if isinstance(self.initial, bool):
            return "true" if self.initial else "false"
        return str(self.initial)

    @property
    def ui(self) -> dict[str, Any]:
        return self.param.ui


@dataclass
class FieldGroup:
    """A declared ``Range`` (two parameters, low <= high) shown as one control with two sliders."""

    range: Range
    fields: list[Field] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.range.name

    @property
    def label(self) -> str:
        return self.range.label

    @property
    def is_group(self) -> bool:
        return True


def _widget(p: Param) -> str:
    if p.type == IMAGE:
        return "image"
    if p.type == STRING_LIST:
        return "labels"
    if p.type == MESSAGES:
        return "chat"
    if p.type == BOOLEAN:
        return "checkbox"
    if p.type in (INTEGER, NUMBER):
        return "number"
    if p.type == STRING and p.ui.get("widget") == "textarea":
        return "textarea"
    return "text"


def _field(kind: TaskKind, p: Param) -> Field:
    initial = SANDBOX_INITIAL.get(kind.name, {}).get(p.name, None if p.required else p.default)
    step: float | str | None = None
    slider = False
    if p.type in (INTEGER, NUMBER):
        step = p.ui.get("step", 1 if p.type == INTEGER else "any")
        slider = p.minimum is not None and p.maximum is not None and p.maximum - p.minimum <= SLIDER_SPAN
    return Field(param=p, widget=_widget(p), initial=initial, step=step, slider=slider)


def form_layout(kind: TaskKind) -> tuple[list[Field | FieldGroup], list[Field | FieldGroup]]:
    """The kind's visible parameters as (main, advanced) controls, in declaration order."""
    main: list[Field | FieldGroup] = []
    advanced: list[Field | FieldGroup] = []
    groups: dict[str, FieldGroup] = {}  # parameter name -> the range control it belongs to
    for declared in kind.ranges:
        groups[declared.low] = groups[declared.high] = FieldGroup(range=declared)
    for p in kind.params:
        if p.ui.get("hidden"):
            continue
        target = advanced if p.advanced else main
        f = _field(kind, p)
        group = groups.get(p.name)
        if group is None:
            target.append(f)
            continue
        if not group.fields:
            target.append(group)
        group.fields.append(f)
    return main, advanced


def kind_declaration(kind: TaskKind) -> dict[str, Any]:
    """The declaration as the page's script reads it (JSON)."""
    initial = SANDBOX_INITIAL.get(kind.name, {})
    required = kind.response_schema.get("required") or list(kind.response_schema.get("properties", {}))
    return {
        "name": kind.name,
        "default_model": kind.default_model,
        "renderer": kind.renderer,
        "output_field": required[0] if required else None,  # the response field the renderer draws
        "quote": next((p.name for p in kind.params if p.ui.get("quote")), None),
        "streams": kind.streams,
        "stream_text_when": kind.stream_text_when,
        "ranges": [{"name": r.name, "low": r.low, "high": r.high, "unit": r.unit} for r in kind.ranges],
        "example": kind.example,
        "example_image": static(EXAMPLE_IMAGE),
        "openai": kind.openai.json() if kind.openai is not None else None,
        "params": [
            {"name": p.name, "type": p.type, "required": p.required, "many": p.many, "nullable": p.nullable,
             "default": None if p.required else p.default, "minimum": p.minimum, "maximum": p.maximum,
             "initial": initial.get(p.name, None if p.required else p.default), "hidden": bool(p.ui.get("hidden"))}
            for p in kind.params
        ],
    }


@dataclass
class ModelChoice:
    spec: ModelSpec
    selected: bool
    is_default: bool

    @property
    def own(self) -> bool:
        return self.spec.source == "uploaded"


def model_choices(
    *, user: AbstractBaseUser, kind: TaskKind, requested: str | None
) -> tuple[list[ModelChoice], ModelSpec | None]:
    """The kind's models for ``user`` (installed first) and the chosen one: ``requested``, else the default."""
    specs = model_list(user=user, kind=kind.name)
    usable = {s.id: s for s in specs if s.installed}
    chosen = usable.get(requested or "") or usable.get(kind.default_model)
    if chosen is None and requested is None and usable:
        chosen = next(iter(usable.values()))
    specs.sort(key=lambda s: (not s.installed, s.id != kind.default_model, s.source == "uploaded", s.name.lower()))
    choices = [ModelChoice(spec=s, selected=chosen is not None and s.id == chosen.id,
                           is_default=s.id == kind.default_model) for s in specs]
    return choices, chosen


def usable_keys(*, user: AbstractBaseUser) -> list[dict[str, str]]:
    """Name and prefix of the user's keys that still work (never the secret), for the request view."""
    return [{"name": k.name, "prefix": k.prefix} for k in api_key_list(user=user) if k.is_usable]


def response_fields(kind: TaskKind) -> list[tuple[str, str]]:
    """(field, description) of the kind's response, for the pipeline panel and the reference page."""
    properties = kind.response_schema.get("properties", {})
    return [(name, spec.get("description", "")) for name, spec in properties.items()]


@dataclass(frozen=True)
class Serving:
    """What can run a task kind, from the declarations: for its reference page."""

    operation: str
    families: tuple[str, ...]  # every family whose backends do the operation
    models: tuple[str, ...]  # the catalog's models serving it (installed here or not)
    upload_families: tuple[str, ...]  # the families a user's own model may be
    upload_suffixes: tuple[str, ...]  # the file names a user's own model may come as: ".zip", ".gguf", ...


def kind_serving(kind: TaskKind) -> Serving:
    return Serving(
        operation=kind.operation, families=kind_families(kind),
        models=tuple(spec.id for spec in catalog_models() if kind.name in spec.kinds and not spec.internal),
        upload_families=upload_families().get(kind.name, ()),
        upload_suffixes=tuple(f".{fmt}" for fmt in upload_formats(kind)))


def schema_json(value: Any) -> str:
    return json.dumps(value, indent=2)


def model_details(spec: ModelSpec | None) -> list[tuple[str, str]]:
    """A model's details (parameters, languages, license, credits, scores...) as readable (label, text) rows."""
    if spec is None:
        return []
    rows = []
    for key, value in spec.details.items():
        if isinstance(value, (list, tuple)):
            text = ", ".join(str(v) for v in value)
        elif isinstance(value, dict):
            text = "; ".join(f"{k}: {v}" for k, v in value.items())
        else:
            text = str(value)
        rows.append((key.replace("_", " ").capitalize(), text))
    return rows
