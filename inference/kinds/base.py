"""The declaration of a task kind: inputs with bounds, response, model, run steps.

A task kind is declared once, in ``inference/kinds/<kind>.py``. Everything
else is generated from that declaration: input validation (here), the API's
request schema and OpenAPI document, the sandbox form and its help texts, the
request snippets and the reference pages.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from django.conf import settings

from inference.inputs.errors import InputError
from inference.inputs.images import clean_image

REQUIRED: Any = object()  # marks a parameter without a default

# What a kind asks of its backend: the Protocol of its operation (``inference/kinds/operations.py``).
BackendT = TypeVar("BackendT")

# Parameter types as they appear in JSON.
STRING, INTEGER, NUMBER, BOOLEAN, IMAGE, STRING_LIST = "string", "integer", "number", "boolean", "image", "string_list"
MESSAGES = "messages"  # a conversation: a list of {"role", "content"} objects
ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Param:
    """One input of a task kind.

    ``many``: the parameter also accepts a list of values (Backprop took a
    list wherever it could batch); a list in gives a list out.
    ``max_chars`` / ``max_tokens`` bound strings; ``max_items`` bounds lists
    (of values for ``many``, of labels for ``string_list``).
    ``ui`` carries hints for the sandbox form (``widget``, ``rows``, ``step``, ``placeholder``, ``hidden``;
    ``quote``: the sandbox's answer renderer marks the answer in this input).
    """

    name: str
    type: str
    help: str
    default: Any = REQUIRED
    minimum: float | None = None
    maximum: float | None = None
    max_chars: int | None = None
    max_tokens: int | None = None
    max_items: int | None = None
    many: bool = False
    nullable: bool = False
    advanced: bool = False
    ui: dict[str, Any] = field(default_factory=dict)

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def bounds_text(self) -> str:
        """A short human description of the range and default, for help texts."""
        parts: list[str] = []
        if self.minimum is not None and self.maximum is not None:
            parts.append(f"{_fmt(self.minimum)} to {_fmt(self.maximum)}")
        elif self.minimum is not None:
            parts.append(f"at least {_fmt(self.minimum)}")
        elif self.maximum is not None:
            parts.append(f"at most {_fmt(self.maximum)}")
        if self.max_chars:
            parts.append(f"up to {self.max_chars:,} characters")
        if self.max_tokens:
            parts.append(f"up to {self.max_tokens:,} tokens")
        if self.max_items:
            noun = {STRING_LIST: "labels", MESSAGES: "messages"}.get(self.type, "items in a list")
            parts.append(f"up to {self.max_items} {noun}")
        if not self.required:
            parts.append(f"default {json_default(self.default)}")
        else:
            parts.append("required")
        return "; ".join(parts)

    def json_schema(self) -> dict[str, Any]:
        """This parameter as JSON Schema (OpenAPI 3.0 flavour)."""
        one: dict[str, Any]
        if self.type == IMAGE:
            one = {"type": "string", "format": "data-uri",
                   "description": "A base64 data URI (data:image/png;base64,...) or raw base64."}
        elif self.type == MESSAGES:
            content: dict[str, Any] = {"type": "string"}
            if self.max_chars is not None:
                content["maxLength"] = self.max_chars
            one = {"type": "array", "minItems": 1, "items": {
                "type": "object", "required": ["role", "content"], "additionalProperties": False,
                "properties": {"role": {"type": "string", "enum": list(ROLES)}, "content": content}}}
            if self.max_items:
                one["maxItems"] = self.max_items
        elif self.type == STRING_LIST:
            one = {"oneOf": [
                {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1,
                 **({"maxItems": self.max_items} if self.max_items else {})},
                {"type": "string", "description": "Comma-separated."},
            ]}
        else:
            one = {"type": self.type}
            if self.minimum is not None:
                one["minimum"] = self.minimum
            if self.maximum is not None:
                one["maximum"] = self.maximum
            if self.max_chars is not None:
                one["maxLength"] = self.max_chars
                one["minLength"] = 1 if self.required else 0
        schema: dict[str, Any] = one
        if self.many:
            array = {"type": "array", "items": one, "minItems": 1}
            if self.max_items:
                array["maxItems"] = self.max_items
            schema = {"oneOf": [one, array]}
        schema = {**schema, "description": f"{self.help} ({self.bounds_text()})"}
        if not self.required:
            schema["default"] = self.default
        if self.nullable:
            schema["nullable"] = True
        return schema


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def json_default(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return _fmt(value) if isinstance(value, (int, float)) else repr(value)


@dataclass(frozen=True)
class Cost:
    """What one request asks of a worker, counted by a ``CostBound``: the total and how it adds up."""

    total: int
    breakdown: str  # e.g. "8 texts × 8 sequences × 512 new tokens"


@dataclass(frozen=True)
class CostBound:
    """A bound on one request's work, beyond each parameter's own range.

    Each parameter can be within its range and the request still ask for too
    much (8 texts × 8 beams × 512 tokens). ``measure`` counts a cleaned
    request's cost in ``unit``; ``clean()`` refuses a request whose cost is
    over the value of the Django setting ``setting``, naming ``field`` (the
    parameter a user most likely turns down). The declaration is shown
    wherever the kind is: the request schema (``x-cost-bound``), the sandbox
    form's help, the reference page and ``GET /api/tasks``. Workers also sum
    the costs of the jobs they gather into one batch (see ``Batcher._take``).
    """

    unit: str  # what is counted, plural: "new tokens"
    formula: str  # how, in words: "texts × max(num_beams, num_generations) × max_length"
    setting: str  # the Django setting with the most one request may ask for
    field: str  # the parameter the error names
    measure: Callable[[dict[str, Any]], Cost]
    advice: str = ""  # how to ask for less, ending the error message

    @property
    def limit(self) -> int:
        return int(getattr(settings, self.setting))

    def text(self) -> str:
        """One sentence for help texts."""
        return (f"One request may ask for at most {self.limit:,} {self.unit}, counted as {self.formula} "
                f"(setting {self.setting}).")

    def json(self) -> dict[str, Any]:
        return {"unit": self.unit, "formula": self.formula, "limit": self.limit, "setting": self.setting,
                "description": self.text()}

    def check(self, cleaned: dict[str, Any]) -> None:
        cost = self.measure(cleaned)
        if cost.total > self.limit:
            raise InputError(self.field, (
                f"this request asks for up to {cost.breakdown} = {cost.total:,} {self.unit}; the most one "
                f"request may ask for is {self.limit:,} ({self.setting}).{' ' + self.advice if self.advice else ''}"))


@dataclass(frozen=True)
class OpenAIEquivalent:
    """The OpenAI API endpoint that serves a task kind under ``/v1`` (api/openai), and its names there.

    ``params`` maps the kind's parameter names to OpenAI's (``{"text": "prompt"}``); the kind's other
    parameters keep their own names (as vLLM's extra sampling parameters do). ``answer`` is where the
    SDK's response object holds the result (``choices[0].message.content``): the same path reads in
    Python and JavaScript. The sandbox's OpenAI SDK snippets are made from this.
    """

    resource: str  # the SDK's resource: "chat.completions", "completions", "embeddings"
    path: str  # "/v1/chat/completions"
    params: dict[str, str]
    answer: str

    def openai_name(self, name: str) -> str:
        return self.params.get(name, name)

    def json(self) -> dict[str, Any]:
        return {"resource": self.resource, "path": self.path, "params": self.params, "answer": self.answer}


@dataclass(frozen=True)
class Range:
    """Two integer or number parameters that bound one quantity, ``low`` <= ``high``.

    ``clean()`` keeps the order: a ``low`` left at its default above the
    given ``high`` is lowered to it; a ``low`` given above ``high`` is
    refused, naming ``low``. The sandbox shows the pair as one control
    (``name``, legend ``label``, values in ``unit``) whose sliders never cross.
    """

    name: str  # the control, e.g. "length"
    low: str
    high: str
    label: str  # the control's legend, e.g. "Token length range"
    unit: str = ""  # what the values count, e.g. "tokens"

    def check(self, cleaned: dict[str, Any], given: set[str]) -> None:
        low, high = cleaned.get(self.low), cleaned.get(self.high)
        if low is None or high is None or low <= high:
            return
        if self.low not in given:
            cleaned[self.low] = high  # a short high with the default low
            return
        raise InputError(self.low, f"must not be more than {self.high} ({high})")


@dataclass
class ItemResult:
    """The outcome of one job in a batch: its response body, or the reason it failed."""

    output: dict[str, Any] | None = None
    error: str | None = None
    # Tokens the job read and wrote, for kinds that count them (generation, chat): metered on the job row.
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reasons: list[str] | None = None  # per generated sequence, in output order: "stop" or "length"


class TaskKind(Generic[BackendT]):
    """Base of every task kind; a subclass in ``inference/kinds/<kind>.py`` fills it in.

    A subclass names the protocol of the operation it needs as its type parameter
    (``class TextVectorisation(TaskKind[EmbedsTexts])``, ``inference/kinds/operations.py``):
    ``run`` and ``forward`` take a backend of that type.

    Subclasses set the class attributes and implement ``forward``, and where they need to,
    ``preprocess`` and ``postprocess`` (the split of transformers' pipelines). ``run``,
    written once here, takes a batch of jobs (their cleaned inputs) as one flat list of
    items: a job whose ``item_params`` hold lists is as many items as the lists are long.
    It preprocesses each item, calls ``forward`` once for the whole list (one forward pass
    where the backend allows it), postprocesses each item's output and gives each job its
    ``ItemResult``: a list in gives a list out (``join``).
    """

    name: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str]
    params: ClassVar[tuple[Param, ...]]
    operation: ClassVar[str]  # the backend operation this kind needs
    default_model: ClassVar[str]
    example: ClassVar[dict[str, Any]]
    response_schema: ClassVar[dict[str, Any]]
    response_example: ClassVar[dict[str, Any]]
    internal: ClassVar[bool] = False  # not offered to users (tests, health checks)
    response_notes: ClassVar[str] = ""
    cost_bound: ClassVar[CostBound | None] = None  # a bound on one request's work (generation)
    streams: ClassVar[bool] = False  # answers server-sent events with "stream": true or Accept: text/event-stream
    # How the sandbox shows a result: the name of a renderer in static/sandbox/renderers.js
    # ("labels", "probabilities", "generations", "vector", "answer", "text", "chat", "json").
    renderer: ClassVar[str] = "json"
    # A stream carries the text as it is written only with these parameter values (otherwise it sends
    # just the result at the end); the sandbox streams only then.
    stream_text_when: ClassVar[dict[str, Any]] = {}
    ranges: ClassVar[tuple[Range, ...]] = ()  # pairs of parameters kept in order, low <= high
    # The ``many`` parameters whose values are the job's items: given as lists (paired, of one length), the job
    # is one item per position, and its response holds a list where it would hold one value.
    item_params: ClassVar[tuple[str, ...]] = ()
    order: ClassVar[int] = 1000  # where the kind is listed (API, sandbox, README): by order, then name
    openai: ClassVar[OpenAIEquivalent | None] = None  # the /v1 endpoint that serves this kind, if any

    # -- declaration helpers -------------------------------------------------
    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params if not p.required}

    def request_schema(self) -> dict[str, Any]:
        """The request body as JSON Schema: the kind's params plus ``model``."""
        properties = {p.name: p.json_schema() for p in self.params}
        properties["model"] = {"type": "string", "description": f"Model id (default {self.default_model})."}
        schema: dict[str, Any] = {
            "type": "object",
            "title": f"{self.title} request",
            "properties": properties,
            "required": [p.name for p in self.params if p.required],
            "additionalProperties": False,
            "example": self.example,
        }
        if self.cost_bound is not None:
            schema["description"] = self.cost_bound.text()
            schema["x-cost-bound"] = self.cost_bound.json()
        return schema

    def request_cost(self, cleaned: dict[str, Any]) -> int:
        """A cleaned request's cost in its ``cost_bound``'s unit; 0 for a kind without one (batching sums it)."""
        return 0 if self.cost_bound is None else self.cost_bound.measure(cleaned).total

    # -- validation ----------------------------------------------------------
    def clean(self, data: dict[str, Any], *, count_tokens: Callable[[str], int] | None = None) -> dict[str, Any]:
        """Validate ``data`` against the declaration; returns the input with defaults filled in.

        Raises ``InputError`` naming the first bad field and the bound it breaks.
        """
        if not isinstance(data, dict):
            raise InputError("body", "must be a JSON object")
        known = {p.name for p in self.params}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(unknown[0], f"unknown field for {self.name} (known: {', '.join(sorted(known))})")
        cleaned: dict[str, Any] = {}
        for p in self.params:
            if p.name not in data or (data[p.name] is None and not p.nullable):
                if p.required:
                    raise InputError(p.name, "this field is required")
                cleaned[p.name] = p.default
                continue
            cleaned[p.name] = _clean_value(p, data[p.name], count_tokens)
        for declared in self.ranges:
            declared.check(cleaned, set(data))
        self.check(cleaned, set(data))
        if self.cost_bound is not None:
            self.cost_bound.check(cleaned)
        return cleaned

    def check(self, cleaned: dict[str, Any], given: set[str]) -> None:
        """Cross-field rules beyond the declared ``ranges`` (for example paired lists). Raise ``InputError``."""

    def batch_key(self, cleaned: dict[str, Any]) -> Any:
        """Jobs whose keys are equal may run as one batch. By default all may."""
        return None

    # -- running -------------------------------------------------------------
    def run(self, backend: BackendT, inputs: Sequence[dict[str, Any]], *,
            on_text: Callable[[int, str], None] | None = None, **context: Any) -> list[ItemResult]:
        """One ``ItemResult`` per job of the batch ``inputs``, in order.

        ``on_text`` (streaming) reaches ``forward`` only when the batch is one job of one item: a
        stream carries one text as it is written.
        """
        rows, shapes = flatten(inputs, *self.item_params) if self.item_params else ([()] * len(inputs),
                                                                                   [None] * len(inputs))
        counts = [1 if shape is None else shape for shape in shapes]
        job_of_item = [job for job, count in zip(inputs, counts, strict=True) for _ in range(count)]
        items = [self.preprocess({**job, **dict(zip(self.item_params, row, strict=True))})
                 for job, row in zip(job_of_item, rows, strict=True)]
        streaming = on_text if len(inputs) == 1 and shapes[0] is None else None
        if streaming is not None:
            context["on_text"] = streaming
        outputs = list(self.forward(backend, items, **context))
        if len(outputs) != len(items):
            raise RuntimeError(f"{self.name}: forward returned {len(outputs)} outputs for {len(items)} items")
        results = [_item_result(self.postprocess(output, item)) for output, item in zip(outputs, items, strict=True)]
        return [self.join(value, job) if isinstance(value, list) else value
                for value, job in zip(unflatten(results, shapes), inputs, strict=True)]

    def preprocess(self, item: dict[str, Any]) -> Any:
        """One item as ``forward`` takes it: the job's cleaned input, each item parameter holding one value
        (decode an image, build a prompt). By default the item as it is."""
        return item

    def forward(self, backend: BackendT, items: list[Any], **context: Any) -> Sequence[Any]:
        """Run the backend's operation on the whole batch of preprocessed items: one output per item."""
        raise NotImplementedError

    def postprocess(self, output: Any, item: Any) -> dict[str, Any] | ItemResult:
        """One item's response body (or an ``ItemResult``, with an error or token counts) from its output.
        By default the output is the body."""
        return output

    def join(self, results: list[ItemResult], job: dict[str, Any]) -> ItemResult:
        """A job given lists: its items' results as one, each response field a list of the items' values.
        The first item that failed fails the job; token counts add up, finish reasons follow in order."""
        failed = next((result for result in results if result.error is not None), None)
        if failed is not None:
            return ItemResult(error=failed.error)
        outputs = [result.output or {} for result in results]
        fields = list(dict.fromkeys(name for output in outputs for name in output))
        joined = ItemResult(output={name: [output.get(name) for output in outputs] for name in fields})
        for counted in ("prompt_tokens", "completion_tokens"):
            values = [getattr(result, counted) for result in results if getattr(result, counted) is not None]
            setattr(joined, counted, sum(values) if values else None)
        reasons = [result.finish_reasons for result in results if result.finish_reasons is not None]
        joined.finish_reasons = [reason for item in reasons for reason in item] if reasons else None
        return joined


def _item_result(value: dict[str, Any] | ItemResult) -> ItemResult:
    return value if isinstance(value, ItemResult) else ItemResult(output=value)


def _clean_value(p: Param, value: Any, count_tokens: Callable[[str], int] | None) -> Any:
    if p.many and isinstance(value, list):
        if not value:
            raise InputError(p.name, "the list is empty")
        if p.max_items is not None and len(value) > p.max_items:
            raise InputError(p.name, f"at most {p.max_items} items in a list (got {len(value)})")
        return [_clean_one(p, v, count_tokens, f"{p.name}[{i}]") for i, v in enumerate(value)]
    return _clean_one(p, value, count_tokens, p.name)


def _clean_one(p: Param, value: Any, count_tokens: Callable[[str], int] | None, label: str) -> Any:
    if p.type == STRING:
        if not isinstance(value, str):
            raise InputError(label, "must be a string")
        if p.required and not value.strip():
            raise InputError(label, "must not be empty")
        if "\x00" in value:
            raise InputError(label, "must not contain NUL characters (\\u0000)")
        if p.max_chars is not None and len(value) > p.max_chars:
            raise InputError(label, f"at most {p.max_chars:,} characters (got {len(value):,})")
        if p.max_tokens is not None and count_tokens is not None:
            tokens = count_tokens(value)
            if tokens > p.max_tokens:
                raise InputError(label, f"at most {p.max_tokens:,} tokens (got {tokens:,})")
        return value
    if p.type == BOOLEAN:
        if not isinstance(value, bool):
            raise InputError(label, "must be true or false")
        return value
    if p.type in (INTEGER, NUMBER):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(label, f"must be {'an integer' if p.type == INTEGER else 'a number'}")
        if p.type == INTEGER:
            if isinstance(value, float):
                if not value.is_integer():
                    raise InputError(label, "must be an integer")
                value = int(value)
        elif not math.isfinite(value):
            raise InputError(label, "must be a finite number")
        if p.minimum is not None and value < p.minimum:
            raise InputError(label, f"must be at least {_fmt(p.minimum)} (got {value})")
        if p.maximum is not None and value > p.maximum:
            raise InputError(label, f"must be at most {_fmt(p.maximum)} (got {value})")
        return value
    if p.type == STRING_LIST:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
            raise InputError(label, "must be a list of strings or a comma-separated string")
        if any("\x00" in v for v in items):
            raise InputError(label, "must not contain NUL characters (\\u0000)")
        items = [v.strip() for v in items if v.strip()]
        if not items and p.required:
            raise InputError(label, "give at least one label")
        if p.max_items is not None and len(items) > p.max_items:
            raise InputError(label, f"at most {p.max_items} labels (got {len(items)})")
        if p.max_chars is not None:
            for item in items:
                if len(item) > p.max_chars:
                    raise InputError(label, f"each label at most {p.max_chars} characters")
        if len(set(items)) != len(items):
            raise InputError(label, "labels must be distinct")
        return items
    if p.type == MESSAGES:
        return _clean_messages(p, value, count_tokens, label)
    if p.type == IMAGE:
        return clean_image(value, label)
    raise InputError(label, f"unsupported type {p.type}")


def flatten(inputs: Sequence[dict[str, Any]], *names: str) -> tuple[list[tuple[Any, ...]], list[int | None]]:
    """The items of a batch of jobs as one flat list, for one forward pass.

    ``names`` are parameters that may each be a single value or a list (paired
    lists of equal length). Returns the flat rows (one tuple of values per
    item) and each job's shape: None for a single item, n for a list of n.
    """
    rows: list[tuple[Any, ...]] = []
    shapes: list[int | None] = []
    for item in inputs:
        values = [item[name] for name in names]
        if isinstance(values[0], list):
            shapes.append(len(values[0]))
            rows.extend(zip(*values, strict=True))
        else:
            shapes.append(None)
            rows.append(tuple(values))
    return rows, shapes


def unflatten(results: Sequence[Any], shapes: Sequence[int | None]) -> list[Any]:
    """Split flat per-item results back into per-job values (a list where a list came in)."""
    out: list[Any] = []
    position = 0
    for shape in shapes:
        if shape is None:
            out.append(results[position])
            position += 1
        else:
            out.append(list(results[position:position + shape]))
            position += shape
    return out


def check_paired(cleaned: dict[str, Any], *names: str) -> None:
    """Parameters given as lists must all be lists of one length (or all single values)."""
    kinds = {isinstance(cleaned[n], list) for n in names if cleaned.get(n) is not None}
    if len(kinds) > 1:
        raise InputError(names[1], f"give {' and '.join(names)} both as single values or both as lists")
    lengths = {len(cleaned[n]) for n in names if isinstance(cleaned.get(n), list)}
    if len(lengths) > 1:
        raise InputError(names[1], f"the lists {' and '.join(names)} must have the same length")


def rounded(scores: dict[str, float], digits: int = 4) -> dict[str, float]:
    return {label: round(float(value), digits) for label, value in scores.items()}


def _clean_messages(p: Param, value: Any, count_tokens: Callable[[str], int] | None, label: str) -> list[dict]:
    """A conversation: system, user and assistant messages with text content; ends with a user message.

    ``max_chars`` bounds each message, ``max_tokens`` the text of all of them together.
    """
    if not isinstance(value, list) or not value:
        raise InputError(label, "must be a non-empty list of messages ({\"role\": ..., \"content\": ...})")
    if p.max_items is not None and len(value) > p.max_items:
        raise InputError(label, f"at most {p.max_items} messages (got {len(value)})")
    messages: list[dict[str, str]] = []
    tokens = 0
    for index, message in enumerate(value):
        where = f"message {index}"  # the error names the parameter; its message says which message
        if not isinstance(message, dict):
            raise InputError(label, f"{where}: must be an object with role and content")
        extra = sorted(set(message) - {"role", "content"})
        if extra:
            raise InputError(label, f"{where}: unknown field {extra[0]} (a message has role and content)")
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            raise InputError(label, f"{where}: role must be one of {', '.join(ROLES)}")
        if not isinstance(content, str):
            raise InputError(label, f"{where}: content must be a string")
        if "\x00" in content:
            raise InputError(label, f"{where}: content must not contain NUL characters (\\u0000)")
        if p.max_chars is not None and len(content) > p.max_chars:
            raise InputError(label, f"{where}: content at most {p.max_chars:,} characters (got {len(content):,})")
        if count_tokens is not None and p.max_tokens is not None:
            tokens += count_tokens(content)
        messages.append({"role": role, "content": content})
    if messages[-1]["role"] != "user":
        raise InputError(label, "the last message must be the user's (the model answers it)")
    if not messages[-1]["content"].strip():
        raise InputError(label, f"message {len(messages) - 1}: the user's message must not be empty")
    if p.max_tokens is not None and tokens > p.max_tokens:
        raise InputError(label, f"at most {p.max_tokens:,} tokens in all messages together (got {tokens:,})")
    return messages


# -- helpers for generating kinds (text-generation, chat) ----------------------------------------------------


def stop_strings_clean(cleaned: dict[str, Any]) -> None:
    """``cleaned["stop"]`` (none, a string or a list) as None or a list of non-empty strings, in place."""
    if isinstance(cleaned["stop"], str):
        cleaned["stop"] = [cleaned["stop"]]
    if cleaned["stop"] is not None and not all(cleaned["stop"]):
        raise InputError("stop", "stop strings must not be empty")


def parameters_key(cleaned: dict[str, Any], *per_job: str) -> tuple[tuple[str, str], ...]:
    """A batch key: every cleaned parameter but ``per_job`` ones, so jobs sharing one generate() call agree."""
    return tuple(sorted((k, repr(v)) for k, v in cleaned.items() if k not in per_job))

