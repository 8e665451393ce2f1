"""OpenAPI: the task endpoints, generated from the task-kind declarations.

Each task endpoint's schema comes from its declaration (one DRF view serves
them all, with its schema switched off), so this drf-spectacular
post-processing hook adds their paths from the registry: request schema, 200
response, 202 job, and the errors of ``api.errors.ERROR_CODES``, which also
give the error shape its list of codes.
"""

from __future__ import annotations

from typing import Any

from inference.registry import public_kinds

from .errors import ERROR_CODES, task_errors


def _codes_table() -> str:
    return "\n".join(f"- `{error.code}` ({error.status}): {error.description}" for error in ERROR_CODES)


ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {"type": "object", "properties": {
            "status": {"type": "integer"},
            "code": {"type": "string", "enum": [error.code for error in ERROR_CODES],
                     "description": "What went wrong, for programs:\n\n" + _codes_table()},
            "message": {"type": "string"},
            "fields": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
        }, "required": ["status", "code", "message"]},
        "request_id": {"type": "string"},
    },
    "required": ["error"],
}


def _task_error_descriptions() -> dict[str, str]:
    """Each status a task endpoint may answer, with its codes and what each means."""
    by_status: dict[str, list[str]] = {}
    for error in task_errors():
        by_status.setdefault(str(error.status), []).append(f"`{error.code}`: {error.description}")
    return {status: " ".join(lines) for status, lines in by_status.items()}


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
                **{status: _error_response(text) for status, text in _task_error_descriptions().items()},
            },
        }}
    return result


OPENAI_ERROR_SCHEMA = {
    "type": "object", "description": "OpenAI's error shape (every error under /v1).",
    "properties": {"error": {"type": "object", "required": ["message", "type", "param", "code"], "properties": {
        "message": {"type": "string"}, "type": {"type": "string"}, "param": {"type": "string", "nullable": True},
        "code": {"type": "string", "enum": [error.code for error in ERROR_CODES]}}}},
    "required": ["error"],
}

_OPENAI_STATUSES = ("400", "401", "403", "404", "409", "413", "422", "429", "500", "503")


def _openai_request_schema(kind: Any) -> dict[str, Any]:
    """The kind's request under OpenAI's names (``kind.openai.params``); its other parameters keep theirs."""
    mapping = kind.openai.params
    properties: dict[str, Any] = {"model": {"type": "string", "description": "A model id (GET /v1/models)."}}
    for p in kind.params:
        if p.name == "stream":
            continue
        properties[mapping.get(p.name, p.name)] = p.json_schema()
    properties["stream"] = {"type": "boolean", "default": False,
                            "description": "Server-sent events `data: {chunk}`, then `data: [DONE]`."}
    required = ["model", *(mapping.get(p.name, p.name) for p in kind.params if p.required)]
    return {"type": "object", "properties": properties, "required": required}


def add_openai_endpoints(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """``/v1``: OpenAI's API over the kinds that declare an equivalent (``TaskKind.openai``)."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["OpenAIError"] = OPENAI_ERROR_SCHEMA
    errors = {status: {"description": "An error, in OpenAI's shape.", "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/OpenAIError"}}}} for status in _OPENAI_STATUSES}
    paths = result.setdefault("paths", {})
    security = [{"BearerAuth": []}, {"ApiKeyAuth": []}]
    model = {"type": "object", "properties": {
        "id": {"type": "string"}, "object": {"type": "string", "enum": ["model"]}, "created": {"type": "integer"},
        "owned_by": {"type": "string"}, "endpoints": {"type": "array", "items": {"type": "string"}},
        "task_kinds": {"type": "array", "items": {"type": "string"}}, "installed": {"type": "boolean"}}}
    components["OpenAIModel"] = model
    paths["/v1/models"] = {"get": {
        "operationId": "openai_models_list", "summary": "Models, as OpenAI lists them", "tags": ["openai"],
        "security": security, "responses": {"200": {"description": "The catalog and your own models.", "content": {
            "application/json": {"schema": {"type": "object", "properties": {
                "object": {"type": "string"}, "data": {"type": "array",
                                                       "items": {"$ref": "#/components/schemas/OpenAIModel"}}}}}}},
            **errors}}}
    paths["/v1/models/{model_id}"] = {"get": {
        "operationId": "openai_models_retrieve", "summary": "One model", "tags": ["openai"], "security": security,
        "parameters": [{"name": "model_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": {"description": "The model.", "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/OpenAIModel"}}}}, **errors}}}
    for kind in public_kinds():
        if kind.openai is None:
            continue
        paths[kind.openai.path] = {"post": {
            "operationId": f"openai_{kind.openai.resource.replace('.', '_')}",
            "summary": f"OpenAI's {kind.openai.resource}: a {kind.name} job",
            "description": (f"The {kind.name} task kind under OpenAI's names ({kind.title}: see POST "
                            f"/api/{kind.name}). Parameters OpenAI's API has and this platform does not honour "
                            "are refused with 400 naming them (`unsupported_parameter`)."),
            "tags": ["openai"], "security": security,
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": _openai_request_schema(kind)}}},
            "responses": {"200": {"description": "OpenAI's response object (or its stream).", "content": {
                "application/json": {"schema": {"type": "object"}}, "text/event-stream": {"schema": {
                    "type": "string"}}}}, **errors},
        }}
    security_schemes = result.setdefault("components", {}).setdefault("securitySchemes", {})
    security_schemes.setdefault("BearerAuth", {"type": "http", "scheme": "bearer",
                                               "description": "The same API keys, as OpenAI's SDK sends them."})
    return result
