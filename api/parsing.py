"""Reading a task request body: JSON, or a multipart form with image files."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest

from inference.images import image_bytes_to_data_uri
from inference.kinds.base import IMAGE, InputError, TaskKind


class BodyError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def _coerce(value: str) -> Any:
    """Form fields arrive as strings: numbers, booleans and JSON lists are read as JSON."""
    try:
        return json.loads(value)
    except ValueError:
        return value


def read_body(request: HttpRequest, kind: TaskKind) -> dict[str, Any]:
    """The request's fields as a dict; images uploaded as files become data URIs."""
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    if length > settings.API_MAX_BODY_BYTES:
        raise BodyError(413, "payload_too_large",
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
        raise BodyError(413, "payload_too_large",
                        f"The request body is over the limit of {settings.API_MAX_BODY_BYTES:,} bytes.") from exc
    if not raw.strip():
        raise BodyError(400, "invalid", "The request body is empty; send a JSON object.")
    if content_type and content_type != "application/json":
        raise BodyError(415, "unsupported_media_type",
                        f"Content type '{content_type}' is not supported; "
                        "send application/json or multipart/form-data.")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BodyError(400, "malformed_json", f"The body is not valid JSON: {exc}.") from exc
    if not isinstance(data, dict):
        raise BodyError(400, "invalid", "The body must be a JSON object.")
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
            raise BodyError(400, "invalid", f"{name}: files are only accepted for image fields", field=name)
        files = request.FILES.getlist(name)
        try:
            uris = [image_bytes_to_data_uri(f.read(), name) for f in files]
        except InputError as exc:
            raise BodyError(400, "invalid", str(exc), field=exc.field) from exc
        data[name] = uris if len(uris) > 1 else uris[0]
    return data
