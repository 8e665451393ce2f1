"""text-generation: continue a text, with Backprop's generation parameters.

``{"output": "Once upon a time ..."}``: the output starts with the given text,
followed by what the model wrote (as Backprop returned it); a list of outputs
when ``num_generations`` > 1. ``min_length`` and ``max_length`` count *new*
tokens, not the prompt.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .base import (
    BOOLEAN,
    INTEGER,
    NUMBER,
    STRING,
    Cost,
    CostBound,
    InputError,
    ItemResult,
    OpenAIEquivalent,
    Param,
    Range,
    TaskKind,
    parameters_key,
    stop_strings_clean,
)
from .operations import Generates

MAX_NEW_TOKENS = 512


def _plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def generation_cost(cleaned: dict[str, Any]) -> Cost:
    """The new tokens one request may make generate() write: texts × sequences per text × max_length.

    Sequences per text is max(num_beams, num_generations), not their product:
    transformers (4.57, ``GenerationMixin.generate``) expands each prompt to
    ``max(num_beams, num_return_sequences)`` rows (``_expand_inputs_for_generation``)
    and beam search, sampled or not, runs its forward pass over ``num_beams``
    rows a prompt, returning the best ``num_return_sequences`` of them;
    ``backends/generation.py:generation_config`` raises num_beams to
    num_generations without sampling. Each row writes up to max_length new
    tokens, so this is an upper bound on the tokens computed.
    """
    texts = len(cleaned["text"]) if isinstance(cleaned["text"], list) else 1
    sequences = max(int(cleaned["num_beams"]), int(cleaned["num_generations"]))
    tokens = int(cleaned["max_length"])
    return Cost(total=texts * sequences * tokens, breakdown=(
        f"{_plural(texts, 'text')} × {_plural(sequences, 'sequence')} (the larger of num_beams "
        f"{cleaned['num_beams']} and num_generations {cleaned['num_generations']}) × {tokens:,} new tokens"))


class TextGeneration(TaskKind[Generates]):
    name = "text-generation"
    title = "Text generation"
    description = (
        "Continues a text. The model writes between min_length and max_length new tokens (a token is a word "
        "or a piece of one), sampling each with the given temperature, top_k and top_p, or searching with "
        "num_beams. The output repeats your text followed by the continuation. Set num_generations for several "
        "different continuations, seed for reproducible ones, and stop to end at a given string. With "
        "\"stream\": true the text arrives token by token as server-sent events."
    )
    operation = "generate"
    renderer = "generations"
    streams = True
    item_params = ("text",)
    order = 20
    openai = OpenAIEquivalent(
        resource="completions", path="/v1/completions", answer="choices[0].text",
        params={"text": "prompt", "max_length": "max_tokens", "num_generations": "n", "temperature": "temperature",
                "top_p": "top_p", "seed": "seed", "stop": "stop"})
    # backends/generation.py streams text for one sequence without beams; otherwise the stream sends the end only
    stream_text_when = {"num_generations": 1, "num_beams": 1}
    # a max_length below the default min_length lowers it; a given min_length above max_length is refused
    ranges = (Range("length", "min_length", "max_length", label="Token length range", unit="tokens"),)
    default_model = "smollm2-135m-instruct"
    cost_bound = CostBound(
        unit="new tokens", formula="texts × the larger of num_beams and num_generations × max_length",
        setting="GENERATION_MAX_TOKENS_PER_REQUEST", field="max_length", measure=generation_cost,
        advice="Ask for fewer texts, generations or beams, or a smaller max_length.")
    params = (
        Param("text", STRING, "The text to continue, or a list of texts.", max_chars=4000, max_tokens=1024,
              many=True, max_items=8, ui={"widget": "textarea", "rows": 4}),
        Param("min_length", INTEGER, "Fewest new tokens to write.", default=10, minimum=0, maximum=MAX_NEW_TOKENS),
        Param("max_length", INTEGER, "Most new tokens to write.", default=20, minimum=1, maximum=MAX_NEW_TOKENS),
        Param("temperature", NUMBER, "Randomness of sampling: lower is more predictable, higher more varied.",
              default=1.0, minimum=0.0, maximum=5.0, ui={"step": 0.05}),
        Param("top_k", INTEGER, "Sample only among the k most likely next tokens (0: no limit).", default=0,
              minimum=0, maximum=1000),
        Param("top_p", NUMBER, "Sample only among the most likely tokens whose probabilities add up to p.",
              default=1.0, minimum=0.01, maximum=1.0, ui={"step": 0.01}),
        Param("repetition_penalty", NUMBER, "Above 1 discourages repeating tokens already written.", default=1.0,
              minimum=0.5, maximum=10.0, ui={"step": 0.05}),
        Param("length_penalty", NUMBER, "With beams: above 1 favours longer outputs, below 1 shorter ones.",
              default=1.0, minimum=-5.0, maximum=5.0, ui={"step": 0.1}),
        Param("num_beams", INTEGER, "Beam search width (1: no beam search). Beams are slower.", default=1,
              minimum=1, maximum=8),
        Param("num_generations", INTEGER, "How many different outputs to return.", default=1, minimum=1, maximum=8),
        Param("do_sample", BOOLEAN, "Sample the next token (true) or pick the most likely one (false).",
              default=True, advanced=True),
        Param("seed", INTEGER, "Makes sampling reproducible: the same seed and input give the same output.",
              default=None, nullable=True, minimum=0, maximum=2**31 - 1, advanced=True),
        Param("stop", STRING, "Stop when the output contains this string (or any of a list of strings); "
              "the string is not included.", default=None, nullable=True, many=True, max_items=4, max_chars=64,
              advanced=True),
        Param("stream", BOOLEAN, "Send the text as it is written, as server-sent events.", default=False,
              advanced=True, ui={"hidden": True}),
    )
    example = {"text": "Once upon a time"}
    response_schema = {
        "type": "object",
        "properties": {"output": {
            "description": "Your text followed by the continuation; a list when num_generations > 1 "
                           "(and a list per text for a list of texts).",
            "oneOf": [{"type": "string"}, {"type": "array", "items": {}}]}},
        "required": ["output"],
    }
    response_example = {"output": "Once upon a time, there was a little girl who lived in a village."}

    def check(self, cleaned: dict[str, Any], given: set[str]) -> None:
        sampling = cleaned["do_sample"] and cleaned["temperature"] > 0  # as backends/generation.py decides
        if sampling and 1 < cleaned["num_beams"] < cleaned["num_generations"]:
            # beam search returns its best num_generations beams (greedy search raises num_beams to match)
            raise InputError("num_generations", f"must not be more than num_beams ({cleaned['num_beams']}) "
                             "when sampling with beams; use num_beams 1 for several sampled outputs")
        stop_strings_clean(cleaned)

    def batch_key(self, cleaned: dict[str, Any]) -> Any:
        """Only jobs with the same generation parameters share a generate() call."""
        return parameters_key(cleaned, "text", "stream")

    def forward(self, backend: Generates, items: list[dict[str, Any]], *,
                on_text: Callable[[int, str], None] | None = None, **context: Any) -> Sequence[Any]:
        params = {k: v for k, v in items[0].items() if k not in ("text", "stream")}  # one batch, one set of params
        prompts = [item["text"] for item in items]
        stream = None
        if on_text is not None:
            prefix = prompts[0]
            stream = lambda _p, _g, text: on_text(0, prefix + text)  # noqa: E731
        return backend.generate_counted(prompts, params, on_text=stream)

    def postprocess(self, result: Any, item: dict[str, Any]) -> ItemResult:
        outputs = [item["text"] + text for text in result.texts]
        return ItemResult(output={"output": outputs if item["num_generations"] > 1 else outputs[0]},
                          prompt_tokens=result.prompt_tokens, completion_tokens=result.completion_tokens,
                          finish_reasons=[g.finish_reason for g in result.generations])
