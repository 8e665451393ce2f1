"""chat: the assistant's next message in a conversation, through the model's own chat template.

``{"choices": [{"message": {"role": "assistant", "content": "..."}, "finish_reason": "stop"}],
"usage": {"prompt_tokens": 21, "completion_tokens": 9, "total_tokens": 30}}``: one choice per ``n``.
``finish_reason`` is ``stop`` (the model ended its message, or a stop string came) or ``length``
(``max_tokens`` was reached). Tokens are counted with the model's tokenizer, the prompt as the chat
template renders it. The OpenAI-compatible ``/v1/chat/completions`` is this kind.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .base import (
    BOOLEAN,
    INTEGER,
    MESSAGES,
    NUMBER,
    STRING,
    Cost,
    CostBound,
    ItemResult,
    OpenAIEquivalent,
    Param,
    TaskKind,
    parameters_key,
    stop_strings_clean,
)
from .operations import Chats

MAX_NEW_TOKENS = 512


def chat_cost(cleaned: dict[str, Any]) -> Cost:
    """The new tokens one request may make the model write: n × max_tokens."""
    n, tokens = int(cleaned["n"]), int(cleaned["max_tokens"])
    return Cost(total=n * tokens, breakdown=f"{n} {'choice' if n == 1 else 'choices'} × {tokens:,} new tokens")


def generation_params(cleaned: dict[str, Any]) -> dict[str, Any]:
    """The text-generation parameters of a chat request (backends/generation.py reads these)."""
    return {
        "max_length": cleaned["max_tokens"], "min_length": 0, "temperature": cleaned["temperature"],
        "do_sample": cleaned["temperature"] > 0, "top_p": cleaned["top_p"], "top_k": 0, "num_beams": 1,
        "num_generations": cleaned["n"], "repetition_penalty": 1.0, "seed": cleaned["seed"], "stop": cleaned["stop"],
    }


class Chat(TaskKind[Chats]):
    name = "chat"
    title = "Chat"
    description = (
        "Answers as the assistant in a conversation: give the messages so far (an optional system message "
        "that sets how the assistant behaves, then user and assistant turns, ending with the user's), and the "
        "model writes the next assistant message, in the prompt format it was trained on (its chat template). "
        "Sampling follows temperature and top_p; n gives several different answers, seed reproducible ones, "
        "stop ends at a given string. With \"stream\": true the answer arrives token by token as server-sent "
        "events. The response counts the tokens read and written."
    )
    operation = "chat"
    renderer = "chat"
    streams = True
    order = 30
    stream_text_when = {"n": 1}  # several choices arrive at the end, together
    openai = OpenAIEquivalent(
        resource="chat.completions", path="/v1/chat/completions", answer="choices[0].message.content",
        params={"messages": "messages", "max_tokens": "max_tokens", "temperature": "temperature", "top_p": "top_p",
                "n": "n", "seed": "seed", "stop": "stop"})
    default_model = "smollm2-135m-instruct"
    cost_bound = CostBound(
        unit="new tokens", formula="n × max_tokens", setting="GENERATION_MAX_TOKENS_PER_REQUEST",
        field="max_tokens", measure=chat_cost, advice="Ask for fewer choices or a smaller max_tokens.")
    params = (
        Param("messages", MESSAGES, "The conversation so far: system, user and assistant messages, "
              "each {\"role\": ..., \"content\": ...}, ending with the user's.", max_items=64, max_chars=8000,
              max_tokens=2048, ui={"widget": "chat"}),
        Param("max_tokens", INTEGER, "Most tokens the answer may have.", default=256, minimum=1,
              maximum=MAX_NEW_TOKENS),
        Param("temperature", NUMBER, "Randomness of sampling: 0 always picks the most likely token, higher is "
              "more varied.", default=0.7, minimum=0.0, maximum=2.0, ui={"step": 0.05}),
        Param("top_p", NUMBER, "Sample only among the most likely tokens whose probabilities add up to p.",
              default=1.0, minimum=0.01, maximum=1.0, ui={"step": 0.01}),
        Param("n", INTEGER, "How many different answers to return.", default=1, minimum=1, maximum=8,
              advanced=True),
        Param("seed", INTEGER, "Makes sampling reproducible: the same seed and messages give the same answer.",
              default=None, nullable=True, minimum=0, maximum=2**31 - 1, advanced=True),
        Param("stop", STRING, "End the answer where it would contain this string (or any of a list of "
              "strings); the string is not included.", default=None, nullable=True, many=True, max_items=4,
              max_chars=64, advanced=True),
        Param("stream", BOOLEAN, "Send the answer as it is written, as server-sent events.", default=False,
              advanced=True, ui={"hidden": True}),
    )
    example = {"messages": [
        {"role": "system", "content": "You are a helpful assistant who answers in one sentence."},
        {"role": "user", "content": "What is the capital of France?"},
    ]}
    response_schema = {
        "type": "object",
        "properties": {
            "choices": {"type": "array", "description": "One answer per n.", "items": {
                "type": "object", "required": ["message", "finish_reason"],
                "properties": {
                    "message": {"type": "object", "required": ["role", "content"], "properties": {
                        "role": {"type": "string", "enum": ["assistant"]}, "content": {"type": "string"}}},
                    "finish_reason": {"type": "string", "enum": ["stop", "length"],
                                      "description": "stop: the model ended (or a stop string came); "
                                                     "length: max_tokens was reached."}}}},
            "usage": {"type": "object", "description": "Tokens, counted with the model's tokenizer.",
                      "properties": {"prompt_tokens": {"type": "integer"},
                                     "completion_tokens": {"type": "integer"},
                                     "total_tokens": {"type": "integer"}}},
        },
        "required": ["choices", "usage"],
    }
    response_example = {
        "choices": [{"message": {"role": "assistant", "content": "The capital of France is Paris."},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 31, "completion_tokens": 8, "total_tokens": 39},
    }

    def check(self, cleaned: dict[str, Any], given: set[str]) -> None:
        stop_strings_clean(cleaned)

    def batch_key(self, cleaned: dict[str, Any]) -> Any:
        """Only jobs with the same sampling parameters share a generate() call."""
        return parameters_key(cleaned, "messages", "stream")

    def forward(self, backend: Chats, items: list[dict[str, Any]], *,
                on_text: Callable[[int, str], None] | None = None, **context: Any) -> Sequence[Any]:
        stream = None if on_text is None else lambda _p, _g, text: on_text(0, text)
        return backend.chat([item["messages"] for item in items], generation_params(items[0]), on_text=stream)

    def postprocess(self, result: Any, item: dict[str, Any]) -> ItemResult:
        usage = {"prompt_tokens": result.prompt_tokens, "completion_tokens": result.completion_tokens,
                 "total_tokens": result.prompt_tokens + result.completion_tokens}
        choices = [{"message": {"role": "assistant", "content": g.text.strip()}, "finish_reason": g.finish_reason}
                   for g in result.generations]
        return ItemResult(output={"choices": choices, "usage": usage}, prompt_tokens=result.prompt_tokens,
                          completion_tokens=result.completion_tokens,
                          finish_reasons=[choice["finish_reason"] for choice in choices])
