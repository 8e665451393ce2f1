"""OpenAPI: the task endpoints, generated from the task-kind declarations.

The task endpoints are async Django views (they await Redis), outside DRF, so
this drf-spectacular post-processing hook adds their paths from the registry:
request schema, 200 response, 202 job, and the shared error shape.
"""

from __future__ import annotations

from typing import Any

from inference.registry import public_kinds

ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {"type": "object", "properties": {
            "status": {"type": "integer"}, "code": {"type": "string"}, "message": {"type": "string"},
            "fields": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
        }, "required": ["status", "code", "message"]},
        "request_id": {"type": "string"},
    },
    "required": ["error"],
}

_ERRORS = {
    "400": "Malformed JSON, a wrong type, a missing field or a value out of bounds (the message names it).",
    "401": "Missing or invalid API key.",
    "404": "Unknown model.",
    "409": "The model is in the catalog but not installed here (the message says how to install it).",
    "413": "The request body is too large.",
    "415": "The content type is neither application/json nor multipart/form-data.",
    "422": "The job ran and failed (the message says why).",
    "429": "Rate limit, jobs in flight or monthly allowance exceeded (see Retry-After).",
    "503": "The model's queue is full (see Retry-After).",
}


def _error_response(description: str) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/Error"}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def add_task_endpoints(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    components["JobAccepted"] = {"type": "object", "description": "The job, when it did not finish within the wait.",
                                 "properties": {"id": {"type": "string", "format": "uuid"}, "url": {"type": "string"},
                                                "status": {"type": "string"}}}
    for kind in public_kinds():
        request_name = "".join(part.title() for part in kind.name.split("-")) + "Request"
        response_name = request_name.replace("Request", "Response")
        schema = kind.request_schema()
        components[request_name] = {k: v for k, v in schema.items() if k != "example"}
        components[response_name] = kind.response_schema
        ok_content: dict[str, Any] = {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{response_name}"}, "example": kind.response_example}}
        if kind.streams:
            ok_content["text/event-stream"] = {"schema": {"type": "string", "description": (
                "With \"stream\": true or Accept: text/event-stream: server-sent events `job`, then `text` "
                "({delta, output}) as it is written, then `done` (the result) or `error`.")}}
        multipart = any(p.type == "image" for p in kind.params)
        content: dict[str, Any] = {"application/json": {"schema": {"$ref": f"#/components/schemas/{request_name}"},
                                                        "example": kind.example}}
        if multipart:
            content["multipart/form-data"] = {"schema": {"type": "object", "properties": {
                p.name: ({"type": "string", "format": "binary"} if p.type == "image" else {"type": "string"})
                for p in kind.params}}}
        result.setdefault("paths", {})[f"/api/{kind.name}"] = {"post": {
            "operationId": f"task_{kind.name.replace('-', '_')}",
            "summary": kind.title,
            "description": kind.description + "\n\nWaits for the result (up to 30 s, or `Prefer: wait=N`), "
                           "else answers 202 with the job; `Prefer: respond-async` answers 202 at once.",
            "tags": ["tasks"],
            "security": [{"ApiKeyAuth": []}],
            "parameters": [{"name": "Prefer", "in": "header", "required": False, "schema": {"type": "string"},
                            "description": "wait=N (seconds) or respond-async"}],
            "requestBody": {"required": True, "content": content},
            "responses": {
                "200": {"description": "The result.", "content": ok_content,
                    "headers": {h: {"schema": {"type": "string"}} for h in ("X-Request-Id", "X-Queue-Ms",
                                                                           "X-Compute-Ms", "X-Load-Ms", "X-Model")}},
                "202": {"description": "Accepted: the job is still running; poll its Location.",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/JobAccepted"}}}},
                **{code: _error_response(text) for code, text in _ERRORS.items()},
            },
        }}
    return result
