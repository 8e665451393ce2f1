"""Reading a request body: JSON, or a multipart form with image files.

Every body that does not parse is a 400, never a 500: ``json`` raises
``RecursionError`` (not a ``ValueError``) on deeply nested input, and accepts
``NaN`` and ``Infinity``, which are not JSON.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from inference.errors import InvalidInput, TooLarge, UnsupportedMediaType
from inference.inputs.images import image_bytes_to_data_uri
from inference.kinds.base import IMAGE, InputError, TaskKind


class JSONError(ValueError):
    """A body (or form field) that is not JSON, with the reason in words."""


def _refuse_constant(name: str) -> Any:
    raise JSONError(f"{name} is not a JSON value")


def json_parse(raw: bytes | str) -> Any:
    """``json.loads``, strict as JSON is defined; raises ``JSONError`` (a ``ValueError``) for any bad input."""
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError as exc:
        raise JSONError("it is nested too deeply") from exc
    except JSONError:
        raise
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise JSONError(str(exc)) from exc


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, which lets ``RecursionError`` through as a 500: every bad body is a 400 here."""

    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - it is nested too deeply") from exc


def _coerce(value: str) -> Any:
    """Form fields arrive as strings: numbers, booleans and JSON lists are read as JSON."""
    try:
        return json_parse(value)
    except JSONError:
        return value


def read_body(request: HttpRequest, kind: TaskKind) -> dict[str, Any]:
    """The request's fields as a dict; images uploaded as files become data URIs. Raises ``ApiError``."""
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    if length > settings.API_MAX_BODY_BYTES:
        raise TooLarge("payload_too_large",
                       f"The request body is {length:,} bytes; the limit is {settings.API_MAX_BODY_BYTES:,}.")
    content_type = request.content_type or ""
    try:
        if content_type.startswith("multipart/form-data"):
            return _read_form(request, kind)
        raw = request.body
        if content_type == "application/x-www-form-urlencoded":
            if not raw.lstrip().startswith(b"{"):
                return _read_form(request, kind)
            content_type = "application/json"  # curl -d '{...}' without a content-type header
    except RequestDataTooBig as exc:
        raise TooLarge("payload_too_large",
                       f"The request body is over the limit of {settings.API_MAX_BODY_BYTES:,} bytes.") from exc
    if not raw.strip():
        raise InvalidInput("invalid", "The request body is empty; send a JSON object.")
    if content_type and content_type != "application/json":
        raise UnsupportedMediaType("unsupported_media_type",
                                   f"Content type '{content_type}' is not supported; "
                                   "send application/json or multipart/form-data.")
    try:
        data = json_parse(raw)
    except JSONError as exc:
        raise InvalidInput("malformed_json", f"The body is not valid JSON: {exc}.") from exc
    if not isinstance(data, dict):
        raise InvalidInput("invalid", "The body must be a JSON object.")
    return data


def _read_form(request: HttpRequest, kind: TaskKind) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name in request.POST:
        values = request.POST.getlist(name)
        data[name] = [_coerce(v) for v in values] if len(values) > 1 else _coerce(values[0])
        if name == "text" or name == "model":  # text stays text even when it looks like JSON
            data[name] = values if len(values) > 1 else values[0]
    image_params = {p.name for p in kind.params if p.type == IMAGE}
    for name in request.FILES:
        if name not in image_params:
            raise InvalidInput("invalid", f"{name}: files are only accepted for image fields", field=name)
        files = request.FILES.getlist(name)
        try:
            uris = [image_bytes_to_data_uri(f.read(), name) for f in files]
        except InputError as exc:
            raise InvalidInput("invalid", str(exc), field=exc.field) from exc
        data[name] = uris if len(uris) > 1 else uris[0]
    return data
