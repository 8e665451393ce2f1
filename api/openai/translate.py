"""OpenAI's request and response shapes, translated to and from the task kinds' own.

``/v1`` is an adapter over the kinds, not a second engine: a chat completion is a ``chat`` job, a
completion a ``text-generation`` job, an embedding request a ``text-vectorisation`` job. This module
only translates: what OpenAI's API names a parameter and how it shapes an answer. Anything the
platform cannot honour is refused with the parameter's name (``RequestRefused``), never ignored.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterable
from typing import Any

from inference.registry import kind_get

# Parameters that do nothing when they hold their default: accepted with that value only.
_NEUTRAL: dict[str, tuple[Any, ...]] = {
    "presence_penalty": (0, 0.0, None),
    "frequency_penalty": (0, 0.0, None),
    "logprobs": (False, None),
    "top_logprobs": (None, 0),
    "logit_bias": (None, {}),
    "parallel_tool_calls": (None,),
    "tool_choice": (None, "none"),
    "store": (None, False),
    "metadata": (None, {}),
    "service_tier": (None, "auto", "default"),
    "modalities": (None, ["text"]),
    "echo": (False, None),
    "best_of": (None, 1),
    "suffix": (None,),
}


class RequestRefused(ValueError):
    """A request /v1 cannot serve as asked: names the parameter (``param``) and why."""

    def __init__(self, param: str | None, message: str, *, code: str = "unsupported_parameter") -> None:
        assert code in ("unsupported_parameter", "invalid"), code
        if param and param.split("[")[0] not in message:
            message = f"{param}: {message}"  # the message names what it is about
        super().__init__(message)
        self.param = param
        self.message = message
        self.code = code


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise RequestRefused(None, "The request body must be a JSON object.", code="invalid")
    return body


def _check_known(body: dict[str, Any], supported: set[str], endpoint: str) -> None:
    for name, value in body.items():
        if name in supported:
            continue
        if name in _NEUTRAL and value in _NEUTRAL[name]:
            continue
        if name in _NEUTRAL:
            raise RequestRefused(name, f"{name}={value!r} is not supported by {endpoint} on this platform "
                                       f"(leave it out, or use {_NEUTRAL[name][0]!r}).")
        raise RequestRefused(name, f"The parameter {name!r} is not supported by {endpoint} on this platform.")


def _model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestRefused("model", "model: a model id is required (GET /v1/models lists them).",
                              code="invalid")
    return model


def _stop(body: dict[str, Any]) -> Any:
    stop = body.get("stop")
    if stop is None or isinstance(stop, str):
        return stop
    if isinstance(stop, list):
        return stop or None
    raise RequestRefused("stop", "stop: a string or a list of strings.", code="invalid")


def _stop_and_stream(body: dict[str, Any], data: dict[str, Any]) -> tuple[bool, bool]:
    """``stop`` into ``data``; (stream?, include usage in the stream?) from ``stream`` and ``stream_options``."""
    if (stop := _stop(body)) is not None:
        data["stop"] = stop
    stream = bool(body.get("stream"))
    options = body.get("stream_options") or {}
    if not isinstance(options, dict) or set(options) - {"include_usage"}:
        raise RequestRefused("stream_options", "stream_options: only include_usage is supported.")
    return stream, stream and bool(options.get("include_usage"))


def _copy(body: dict[str, Any], data: dict[str, Any], names: Iterable[str]) -> None:
    for name in names:
        if body.get(name) is not None:
            data[name] = body[name]


def _texts(body: dict[str, Any], name: str) -> list[str]:
    """A string or a non-empty list of strings (``prompt``, ``input``) as a list; token arrays are refused."""
    given = body.get(name)
    if isinstance(given, str):
        return [given]
    if isinstance(given, list) and given and all(isinstance(t, str) for t in given):
        return list(given)
    if isinstance(given, list) and given and all(isinstance(t, (int, list)) for t in given):
        raise RequestRefused(name, f"Token arrays as {name} are not supported: send the text.")
    raise RequestRefused(name, f"{name}: a string or a non-empty list of strings.", code="invalid")


# --- chat completions -------------------------------------------------------------------------------

CHAT_SUPPORTED = {"model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "n", "stop",
                  "seed", "stream", "stream_options", "user", "response_format"}


def _content(index: int, content: Any) -> str:
    """A message's text: a string, or a list of text parts joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif kind in ("image_url", "input_image", "input_audio", "file"):
                raise RequestRefused(f"messages[{index}].content", f"Content parts of type {kind!r} (images, audio, "
                                     "files) are not supported in chat on this platform: send text only.")
            else:
                raise RequestRefused(f"messages[{index}].content", "Each content part must be "
                                     "{\"type\": \"text\", \"text\": \"...\"}.", code="invalid")
        return "\n".join(texts)
    raise RequestRefused(f"messages[{index}].content", "content: a string or a list of text parts.", code="invalid")


def _messages(messages: Any) -> list[dict[str, str]]:
    if not isinstance(messages, list) or not messages:
        raise RequestRefused("messages", "messages: a non-empty list of messages is required.", code="invalid")
    out = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise RequestRefused(f"messages[{index}]", "Each message must be an object with role and content.",
                                  code="invalid")
        role = "system" if message.get("role") == "developer" else message.get("role")
        if role in ("tool", "function"):
            raise RequestRefused(f"messages[{index}].role", "Tool and function messages are not supported: this "
                                 "platform does not call tools.")
        for name in message:
            if name not in ("role", "content") and not (name == "tool_calls" and not message[name]):
                if name == "name":
                    raise RequestRefused(f"messages[{index}].name", "Message names are not supported.")
                raise RequestRefused(f"messages[{index}].{name}", f"The message field {name!r} is not supported.")
        out.append({"role": role, "content": _content(index, message.get("content"))})
    return out


def chat_request(body: Any) -> tuple[str, dict[str, Any], bool, bool]:
    """(model id, the chat kind's input, stream?, include usage in the stream?) from a chat completion request."""
    body = _object(body)
    _check_known(body, CHAT_SUPPORTED, "/v1/chat/completions")
    response_format = body.get("response_format")
    if response_format not in (None, {"type": "text"}):
        raise RequestRefused("response_format", "Only response_format {\"type\": \"text\"} is supported.")
    data: dict[str, Any] = {"messages": _messages(body.get("messages"))}
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    if limit is not None:
        data["max_tokens"] = limit
    _copy(body, data, ("temperature", "top_p", "n", "seed"))
    stream, include_usage = _stop_and_stream(body, data)
    return _model(body), data, stream, include_usage


def chat_response(job: Any, created: int) -> dict[str, Any]:
    output = job.output
    return {
        "id": f"chatcmpl-{job.id.hex}", "object": "chat.completion", "created": created, "model": job.model_id,
        "system_fingerprint": None,
        "choices": [
            {"index": index, "message": {**choice["message"], "refusal": None}, "logprobs": None,
             "finish_reason": choice["finish_reason"]}
            for index, choice in enumerate(output["choices"])
        ],
        "usage": output["usage"],
    }


def chat_chunk(job_id: Any, created: int, model: str, choices: list[dict[str, Any]],
               usage: dict[str, int] | None = None) -> dict[str, Any]:
    chunk: dict[str, Any] = {"id": f"chatcmpl-{job_id.hex}", "object": "chat.completion.chunk", "created": created,
                             "model": model, "system_fingerprint": None, "choices": choices}
    if usage is not None:
        chunk["usage"] = usage
    return chunk


def chat_delta(index: int, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}


# --- completions -------------------------------------------------------------------------------------

COMPLETION_SUPPORTED = {"model", "prompt", "max_tokens", "temperature", "top_p", "n", "stop", "seed", "stream",
                        "stream_options", "user"}


def own_names(kind_name: str) -> set[str]:
    """The kind's parameters that OpenAI's API does not have: accepted under their own names (vLLM's extras)."""
    kind = kind_get(kind_name)
    assert kind is not None and kind.openai is not None
    return {p.name for p in kind.params if p.name not in kind.openai.params and p.name != "stream"}


def completion_request(body: Any) -> tuple[str, dict[str, Any], list[str], bool, bool]:
    """(model id, the text-generation input, the prompts, stream?, include usage?) from a completion request."""
    body = _object(body)
    extras = own_names("text-generation")
    _check_known(body, COMPLETION_SUPPORTED | extras, "/v1/completions")
    prompt = body.get("prompt")
    prompts = _texts(body, "prompt")
    n = body.get("n", 1)
    data: dict[str, Any] = {"text": prompts[0] if isinstance(prompt, str) else prompts, "min_length": 0,
                            "max_length": body.get("max_tokens", 16) if body.get("max_tokens") is not None else 16,
                            "num_generations": n}
    temperature = body.get("temperature", 1.0)
    if temperature is not None:
        data["temperature"] = temperature
        data["do_sample"] = isinstance(temperature, (int, float)) and temperature > 0
    _copy(body, data, ("top_p", "seed", *sorted(extras)))
    stream, include_usage = _stop_and_stream(body, data)
    if stream and (len(prompts) > 1 or (isinstance(n, int) and n > 1)):
        raise RequestRefused("stream", "Streaming is supported for one prompt and n = 1.")
    return _model(body), data, prompts, stream, include_usage


def usage(job: Any) -> dict[str, int]:
    prompt, completion = job.prompt_tokens or 0, job.completion_tokens or 0
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def completion_response(job: Any, prompts: list[str], created: int) -> dict[str, Any]:
    """text-generation's output (each prompt followed by its continuation) as OpenAI's choices (new text only)."""
    output = job.output["output"]
    per_prompt = output if isinstance(output, list) and len(prompts) > 1 else [output]
    reasons = list(job.finish_reasons or [])
    choices = []
    for prompt, texts in zip(prompts, per_prompt, strict=True):
        for text in texts if isinstance(texts, list) else [texts]:
            index = len(choices)
            choices.append({"index": index, "text": text[len(prompt):] if text.startswith(prompt) else text,
                            "logprobs": None, "finish_reason": reasons[index] if index < len(reasons) else "stop"})
    return {"id": f"cmpl-{job.id.hex}", "object": "text_completion", "created": created, "model": job.model_id,
            "system_fingerprint": None, "choices": choices, "usage": usage(job)}


def completion_chunk(job_id: Any, created: int, model: str, text: str, finish_reason: str | None,
                     usage: dict[str, int] | None = None) -> dict[str, Any]:
    chunk: dict[str, Any] = {
        "id": f"cmpl-{job_id.hex}", "object": "text_completion", "created": created, "model": model,
        "system_fingerprint": None,
        "choices": [] if usage is not None else [{"index": 0, "text": text, "logprobs": None,
                                                  "finish_reason": finish_reason}],
    }
    if usage is not None:
        chunk["usage"] = usage
    return chunk


# --- embeddings --------------------------------------------------------------------------------------

EMBEDDING_SUPPORTED = {"model", "input", "encoding_format", "dimensions", "user"}


def embedding_request(body: Any) -> tuple[str, dict[str, Any], list[str], str, int | None]:
    """(model id, the text-vectorisation input, the texts, encoding format, dimensions asked) from a request."""
    body = _object(body)
    _check_known(body, EMBEDDING_SUPPORTED, "/v1/embeddings")
    given = body.get("input")
    texts = _texts(body, "input")
    encoding = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise RequestRefused("encoding_format", "encoding_format: float or base64.", code="invalid")
    dimensions = body.get("dimensions")
    if dimensions is not None and (isinstance(dimensions, bool) or not isinstance(dimensions, int)):
        raise RequestRefused("dimensions", "dimensions: an integer.", code="invalid")
    return _model(body), {"text": given if isinstance(given, str) else texts}, texts, encoding, dimensions


def _encoded(vector: list[float], encoding: str) -> Any:
    if encoding == "base64":  # little-endian float32, as OpenAI sends it (the SDK decodes it with numpy)
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return vector


def embedding_response(job: Any, encoding: str, prompt_tokens: int) -> dict[str, Any]:
    vectors = job.output["vector"]
    if vectors and not isinstance(vectors[0], list):
        vectors = [vectors]
    return {
        "object": "list", "model": job.model_id,
        "data": [{"object": "embedding", "index": index, "embedding": _encoded(vector, encoding)}
                 for index, vector in enumerate(vectors)],
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }


def stream_error(message: str, status: str) -> dict[str, Any]:
    """A stream's last event when its job did not succeed (OpenAI sends an error object mid-stream)."""
    return {"error": {"message": message, "type": "server_error" if status == "timeout" else "invalid_request_error",
                      "param": None, "code": "job_cancelled" if status == "cancelled" else "job_failed"}}
