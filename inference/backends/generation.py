"""Generation shared by the ``causal-lm`` and ``seq2seq`` families: one ``model.generate`` call.

:class:`GenerativeBackend` turns validated text-generation parameters into a
``GenerationConfig``, cuts the output at stop strings, seeds sampling per call,
and streams the text so far to an ``on_text`` callback (a streaming job).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import torch
from transformers import GenerationConfig, PreTrainedModel, PreTrainedTokenizerBase, StoppingCriteria
from transformers.generation.streamers import BaseStreamer

from inference.backends.base import Backend, BackendError, LoadTarget
from inference.kinds.operations import Generation, OnText, PromptGenerations
from inference.kinds.stopping import stop_check

_SPECIAL_TOKEN_KEYS = (
    "bos_token_id",
    "eos_token_id",
    "pad_token_id",
    "decoder_start_token_id",
)


# --- stop strings and streaming -------------------------------------------


def cut_at_stop(text: str, stops: list[str]) -> str:
    """``text`` up to (not including) the earliest occurrence of any stop string."""
    positions = [index for stop in stops if (index := text.find(stop)) != -1]
    return text[: min(positions)] if positions else text


def _settled_text(text: str, stops: list[str]) -> str:
    """The part of streamed ``text`` that no later token can cut away.

    A tail that could be the start of a stop string is held back, so the
    streamed text only ever grows.
    """
    cut = cut_at_stop(text, stops)
    if cut != text or not stops:
        return cut
    for size in range(min(len(text), max(map(len, stops)) - 1), 0, -1):
        if any(stop.startswith(text[-size:]) for stop in stops):
            return text[:-size]
    return text


class _CallbackStreamer(BaseStreamer):
    """Decodes the new tokens of a single sequence and reports the text so far."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, stops: list[str], on_text: OnText) -> None:
        self.tokenizer = tokenizer
        self.stops = stops
        self.on_text = on_text
        self.token_ids: list[int] = []
        self.sent = ""
        self._prompt_skipped = False

    def put(self, value: torch.Tensor) -> None:
        # generate() first puts the prompt (or the decoder start token): not new text.
        if not self._prompt_skipped:
            self._prompt_skipped = True
            return
        self.token_ids.extend(value.reshape(-1).tolist())
        text = self.tokenizer.decode(self.token_ids, skip_special_tokens=True)
        if not text.endswith("\ufffd"):  # wait for the rest of a multi-byte character
            self.send(_settled_text(text, self.stops))

    def end(self) -> None:
        """Nothing to flush: the caller sends the final text."""

    def send(self, text: str) -> None:
        if len(text) > len(self.sent) and text.startswith(self.sent):
            self.sent = text
            self.on_text(0, 0, text)


class _StopWhenAsked(StoppingCriteria):
    """Ends every sequence of the generate() call once the job's stop check says so (cancelled,
    deadline, worker stopping); asked after each new token."""

    def __init__(self, check: Callable[[], bool]) -> None:
        self.check = check

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.Tensor:
        return torch.full((input_ids.shape[0],), bool(self.check()), dtype=torch.bool, device=input_ids.device)


# --- generation shared by causal-lm and seq2seq ---------------------------


def generation_config(model: PreTrainedModel, params: dict[str, Any]) -> GenerationConfig:
    """A GenerationConfig from validated text-generation ``params``.

    min_length/max_length count new tokens. Greedy decoding cannot return
    several sequences, so without sampling ``num_beams`` is raised to
    ``num_generations``.
    """
    max_new = int(params.get("max_length", 20))
    num_return = int(params.get("num_generations", 1))
    temperature = float(params.get("temperature", 1.0))
    do_sample = bool(params.get("do_sample", False)) and temperature > 0
    num_beams = max(int(params.get("num_beams", 1)), 1 if do_sample else num_return)
    settings: dict[str, Any] = {
        "max_new_tokens": max_new,
        "min_new_tokens": min(int(params.get("min_length", 0)), max_new),
        "do_sample": do_sample,
        "num_beams": num_beams,
        "num_return_sequences": num_return,
        "repetition_penalty": float(params.get("repetition_penalty", 1.0)),
    }
    if num_beams > 1:
        settings["length_penalty"] = float(params.get("length_penalty", 1.0))
    if do_sample:
        settings["temperature"] = temperature
        settings["top_k"] = int(params.get("top_k", 0))
        settings["top_p"] = float(params.get("top_p", 1.0))
    for key in ("no_repeat_ngram_size", "early_stopping"):
        if key in params:
            settings[key] = params[key]
    special = {key: getattr(model.generation_config, key, None) for key in _SPECIAL_TOKEN_KEYS}
    return GenerationConfig(**special, **settings)


@contextlib.contextmanager
def _seeded(seed: int | None, device: torch.device) -> Iterator[None]:
    """Seed torch for one generate() call without disturbing the worker's RNG."""
    if seed is None:
        yield
        return
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        yield


class GenerativeBackend(Backend):
    """A backend whose operations all go through ``model.generate``."""

    operations: ClassVar[frozenset[str]] = frozenset({"generate"})
    truncation_side: ClassVar[str] = "left"

    def __init__(
        self,
        target: LoadTarget,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
    ) -> None:
        super().__init__(target)
        self.model = model.to(target.device).eval()
        self.tokenizer = tokenizer
        tokenizer.padding_side = "left"
        tokenizer.truncation_side = self.truncation_side
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
        if model.generation_config.pad_token_id is None:
            model.generation_config.pad_token_id = tokenizer.pad_token_id

    def max_input_tokens(self, max_new_tokens: int) -> int | None:
        """How many prompt tokens fit; None when there is no fixed bound."""
        raise NotImplementedError

    def _encode(self, texts: list[str], max_new_tokens: int, add_special_tokens: bool) -> dict[str, torch.Tensor]:
        limit = self.max_input_tokens(max_new_tokens)
        if limit is not None and limit < 1:
            raise BackendError(f"max_length {max_new_tokens} leaves no room for the prompt")
        start = self.tokenizer.bos_token or self.tokenizer.eos_token
        if start is None and not all(texts):
            raise BackendError("the prompt is empty")
        # an empty prompt starts from the beginning-of-text token
        padded = self.tokenizer(
            [text or start for text in texts],
            add_special_tokens=add_special_tokens,
            truncation=limit is not None,
            max_length=limit,
            padding=True,
            return_tensors="pt",
        )
        return {key: value.to(self.target.device) for key, value in padded.items()}

    def _finished(self, new_ids: list[int], text: str, cut: str, max_new: int) -> Generation:
        """A sequence's text, finish reason and token count (up to and including an end-of-text token)."""
        ends = {self.model.generation_config.eos_token_id, self.tokenizer.eos_token_id} - {None}
        ends = {token for end in ends for token in (end if isinstance(end, list) else [end])}
        pad = self.tokenizer.pad_token_id
        while new_ids and pad is not None and pad not in ends and new_ids[-1] == pad:
            new_ids = new_ids[:-1]  # a sequence that ended early is padded to the batch's longest
        ended = next((index for index, token in enumerate(new_ids) if token in ends), None)
        tokens = len(new_ids) if ended is None else ended + 1
        stopped = ended is not None or cut != text or tokens < max_new
        return Generation(text=cut, finish_reason="stop" if stopped else "length", tokens=tokens)

    @torch.inference_mode()
    def _run(
        self,
        texts: list[str],
        params: dict[str, Any],
        *,
        add_special_tokens: bool = True,
        on_text: OnText | None = None,
    ) -> list[PromptGenerations]:
        """One generate() call over ``texts``: ``num_generations`` sequences per text."""
        config = generation_config(self.model, params)
        stops = [stop for stop in params.get("stop") or [] if stop]
        inputs = self._encode(texts, config.max_new_tokens, add_special_tokens)
        extra: dict[str, Any] = {}
        if stops:
            config.stop_strings = stops
            extra["tokenizer"] = self.tokenizer
        check = stop_check.get()
        if check is not None:
            extra["stopping_criteria"] = [_StopWhenAsked(check)]
        streamer = None
        if on_text is not None and len(texts) == 1 and config.num_return_sequences == 1 and config.num_beams == 1:
            streamer = extra["streamer"] = _CallbackStreamer(self.tokenizer, stops, on_text)
        with _seeded(params.get("seed"), self.target.device):
            sequences = self.model.generate(**inputs, generation_config=config, **extra)
        if self.model.config.is_encoder_decoder:
            sequences = sequences[:, 1:]  # the decoder start token is not generated text
        else:
            sequences = sequences[:, inputs["input_ids"].shape[1] :]
        decoded = self.tokenizer.batch_decode(sequences, skip_special_tokens=True)
        outputs = [
            self._finished(ids, text, cut_at_stop(text, stops), config.max_new_tokens)
            for ids, text in zip(sequences.tolist(), decoded, strict=True)
        ]
        if streamer is not None:
            streamer.send(outputs[0].text)
        per_text = config.num_return_sequences
        prompt_tokens = inputs["attention_mask"].sum(dim=1).tolist()
        return [
            PromptGenerations(prompt_tokens=int(prompt_tokens[index]),
                              generations=outputs[index * per_text : (index + 1) * per_text])
            for index in range(len(texts))
        ]

    def generate_counted(
        self, prompts: list[str], params: dict[str, Any], on_text: OnText | None = None, *,
        add_special_tokens: bool = True,
    ) -> list[PromptGenerations]:
        """Continue each prompt ``num_generations`` times (new text only), with token counts.

        Seeded sampling runs prompt by prompt, so a job's output does not
        depend on which other jobs shared its batch.
        """
        if params.get("seed") is not None and params.get("do_sample") and len(prompts) > 1:
            return [self._run([prompt], params, add_special_tokens=add_special_tokens)[0] for prompt in prompts]
        return self._run(prompts, params, add_special_tokens=add_special_tokens, on_text=on_text)

    def generate(self, prompts: list[str], params: dict[str, Any], on_text: OnText | None = None) -> list[list[str]]:
        """Continue each prompt ``num_generations`` times (new text only)."""
        return [result.texts for result in self.generate_counted(prompts, params, on_text)]
