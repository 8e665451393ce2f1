"""Decoder-only language models (GPT-2, Llama, SmolLM2, ...): family ``causal-lm``.

Loads ``AutoModelForCausalLM`` + ``AutoTokenizer`` from a transformers folder,
or from a GGUF file. transformers dequantises GGUF on every load (about 20 s
for SmolLM2-135M), so the first load converts it once into a safetensors
transformers folder under ``target.cache_dir`` and later loads read that.

Operations: ``generate`` (the prompt is continued as plain text, never
wrapped in a chat template), ``answer`` and ``summarise`` (instruction
prompts through the tokenizer's chat template when it has one, greedy).

Options read from ``target.options``:

``gguf_file``
    GGUF file name inside ``target.path`` (or an absolute path). A
    ``target.path`` that is itself a ``.gguf`` file needs no option.
``answer_prompt``
    First user turn of a question answering chat; ``{context}`` and
    ``{question}`` are filled in. Default :data:`DEFAULT_ANSWER_PROMPT`.
``summarise_prompt``
    User turn asking for a summary of ``{text}``. Default
    :data:`DEFAULT_SUMMARISE_PROMPT`.
``answer_max_new_tokens`` / ``summarise_max_new_tokens``
    Bounds on the reply length (defaults 64 and 128).

The generation machinery (:class:`GenerativeBackend`) is shared with the
``seq2seq`` family.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import torch
import transformers
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)
from transformers.generation.streamers import BaseStreamer

from inference.backends.base import Backend, BackendError, LoadTarget
from inference.gguf_cache import gguf_cache_folder

OnText = Callable[[int, int, str], None]

DEFAULT_ANSWER_PROMPT = (
    "Answer the questions using only this text. Keep answers short.\n\nText: {context}\n\nQuestion: {question}"
)
DEFAULT_SUMMARISE_PROMPT = "Summarise the following text in a few sentences.\n\n{text}"

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

    @torch.inference_mode()
    def _run(
        self,
        texts: list[str],
        params: dict[str, Any],
        *,
        add_special_tokens: bool = True,
        on_text: OnText | None = None,
    ) -> list[list[str]]:
        """One generate() call over ``texts``: ``num_generations`` strings per text."""
        config = generation_config(self.model, params)
        stops = [stop for stop in params.get("stop") or [] if stop]
        inputs = self._encode(texts, config.max_new_tokens, add_special_tokens)
        extra: dict[str, Any] = {}
        if stops:
            config.stop_strings = stops
            extra["tokenizer"] = self.tokenizer
        streamer = None
        if on_text is not None and len(texts) == 1 and config.num_return_sequences == 1 and config.num_beams == 1:
            streamer = extra["streamer"] = _CallbackStreamer(self.tokenizer, stops, on_text)
        with _seeded(params.get("seed"), self.target.device):
            sequences = self.model.generate(**inputs, generation_config=config, **extra)
        if not self.model.config.is_encoder_decoder:
            sequences = sequences[:, inputs["input_ids"].shape[1] :]
        decoded = self.tokenizer.batch_decode(sequences, skip_special_tokens=True)
        outputs = [cut_at_stop(text, stops) for text in decoded]
        if streamer is not None:
            streamer.send(outputs[0])
        per_text = config.num_return_sequences
        return [outputs[index : index + per_text] for index in range(0, len(outputs), per_text)]

    def generate(self, prompts: list[str], params: dict[str, Any], on_text: OnText | None = None) -> list[list[str]]:
        """Continue each prompt ``num_generations`` times (new text only).

        Seeded sampling runs prompt by prompt, so a job's output does not
        depend on which other jobs shared its batch.
        """
        if params.get("seed") is not None and params.get("do_sample") and len(prompts) > 1:
            return [self._run([prompt], params)[0] for prompt in prompts]
        return self._run(prompts, params, on_text=on_text)


# --- GGUF conversion -------------------------------------------------------


def gguf_source(target: LoadTarget) -> Path | None:
    """The GGUF file ``target`` names, if any."""
    name = target.options.get("gguf_file")
    if name:
        path = Path(name)
        return path if path.is_absolute() else target.path / path
    if target.path.suffix.lower() == ".gguf" and target.path.is_file():
        return target.path
    return None


def _repair_gguf_tokenizer(tokenizer: PreTrainedTokenizerBase, gguf_path: Path) -> None:
    """Fix what transformers' GGUF tokenizer conversion gets wrong, from the file's metadata.

    transformers 4.57 sets eos to the bos token, always adds bos and cleans up
    spaces that a byte-level BPE decodes exactly; SmolLM2's "smollm"
    pre-tokenizer also splits digits one by one.
    """
    from gguf import GGUFReader
    from tokenizers import pre_tokenizers

    fields = GGUFReader(gguf_path).fields

    def value(key: str) -> Any:
        field = fields.get(f"tokenizer.ggml.{key}")
        return None if field is None else field.contents()

    for role in ("bos", "eos", "pad"):
        token_id = value(f"{role}_token_id" if role != "pad" else "padding_token_id")
        if token_id is not None:
            setattr(
                tokenizer,
                f"{role}_token",
                tokenizer.convert_ids_to_tokens(int(token_id)),
            )
    for flag in ("add_bos_token", "add_eos_token"):
        if value(flag) is not None and hasattr(tokenizer, flag):
            setattr(tokenizer, flag, bool(value(flag)))
    if value("model") == "gpt2":  # byte-level BPE
        tokenizer.clean_up_tokenization_spaces = False
    if value("pre") == "smollm":
        tokenizer.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Digits(individual_digits=True),
                pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
            ]
        )


def _load_gguf(gguf_path: Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    folder, name = gguf_path.parent, gguf_path.name
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32, local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise BackendError(f"cannot read the GGUF file {name}: {exc}") from exc
    _repair_gguf_tokenizer(tokenizer, gguf_path)
    return model, tokenizer


def converted_gguf_folder(gguf_path: Path, cache_dir: Path) -> Path:
    """A transformers folder holding ``gguf_path`` dequantised, converting it on first use.

    The folder name hashes the file's name, size and mtime (and the
    conversion version), so a replaced file is converted again. A file lock
    keeps two workers from converting at once; the folder is written under a
    temporary name and renamed, so a crash never leaves a half-written cache.
    """
    stat = gguf_path.stat()
    final = gguf_cache_folder(gguf_path, cache_dir)
    root, name = final.parent, final.name
    if (final / "config.json").is_file():
        return final
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (final / "config.json").is_file():  # another worker converted it meanwhile
            return final
        for stale in root.glob(f".{name}.tmp-*"):  # left by a crashed conversion
            shutil.rmtree(stale, ignore_errors=True)
        temporary = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=root))
        temporary.chmod(0o755)  # mkdtemp makes it private; the cache is shared
        try:
            model, tokenizer = _load_gguf(gguf_path)
            model.save_pretrained(temporary, safe_serialization=True)
            tokenizer.save_pretrained(temporary)
            # save_pretrained copies the vocab file, which for GGUF is the whole model file.
            (temporary / "tokenizer.model").unlink(missing_ok=True)
            source = {
                "file": str(gguf_path),
                "size": stat.st_size,
                "mtime_ns": stat.st_mtime_ns,
            }
            source["transformers"] = transformers.__version__
            (temporary / "gguf_source.json").write_text(json.dumps(source, indent=2))
            os.rename(temporary, final)
        except BaseException:
            shutil.rmtree(temporary, ignore_errors=True)
            raise
    return final


# --- the backend -------------------------------------------------------------


class CausalLMBackend(GenerativeBackend):
    """A decoder-only language model: text generation, answers and summaries."""

    family: ClassVar[str] = "causal-lm"
    operations: ClassVar[frozenset[str]] = frozenset({"generate", "answer", "summarise"})

    @classmethod
    def load(cls, target: LoadTarget) -> CausalLMBackend:
        """Load from a transformers folder, or from a GGUF file through the conversion cache."""
        gguf_path = gguf_source(target)
        if gguf_path is not None and not gguf_path.is_file():
            raise BackendError(f"the GGUF file {gguf_path} does not exist")
        if gguf_path is not None and target.cache_dir is None:
            model, tokenizer = _load_gguf(gguf_path)  # no cache: dequantise on every load
            return cls(target, model.to(target.dtype), tokenizer)
        folder = target.path if gguf_path is None else converted_gguf_folder(gguf_path, target.cache_dir)
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(folder, dtype=target.dtype, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise BackendError(f"cannot load the language model at {folder}: {exc}") from exc
        return cls(target, model, tokenizer)

    def max_input_tokens(self, max_new_tokens: int) -> int | None:
        config = self.model.config
        context = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
        return None if context is None else context - max_new_tokens

    def _instruct(
        self,
        chats: list[list[dict[str, str]]],
        plain: list[str],
        stop: list[str],
        max_new: int,
    ) -> list[str]:
        """Greedy replies to chats, or to plain-text prompts when there is no chat template."""
        context = self.max_input_tokens(0)
        if context is not None:  # a short-context model keeps half its context for the prompt
            max_new = min(max_new, context // 2)
        if self.tokenizer.chat_template:
            texts = [
                self.tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True) for chat in chats
            ]
            # the template already holds the special tokens the model expects
            outputs = self._run(texts, {"max_length": max_new}, add_special_tokens=False)
        else:
            outputs = self._run(plain, {"max_length": max_new, "stop": stop})
        return [replies[0].strip() for replies in outputs]

    def answer(
        self,
        questions: list[str],
        contexts: list[str],
        histories: list[list[tuple[str, str]]],
    ) -> list[str]:
        """Answer each question about its context, after the earlier question-answer turns."""
        template = self.target.options.get("answer_prompt", DEFAULT_ANSWER_PROMPT)
        chats, plain = [], []
        for question, context, history in zip(questions, contexts, histories, strict=True):
            turns = [*history, (question, None)]
            chat: list[dict[str, str]] = []
            for index, (asked, answered) in enumerate(turns):
                content = template.format(context=context, question=asked) if index == 0 else asked
                chat.append({"role": "user", "content": content})
                if answered is not None:
                    chat.append({"role": "assistant", "content": answered})
            chats.append(chat)
            lines = [f"Q: {asked}\nA:" + (f" {answered}" if answered is not None else "") for asked, answered in turns]
            plain.append(f"{context}\n\n" + "\n".join(lines))
        max_new = int(self.target.options.get("answer_max_new_tokens", 64))
        return self._instruct(chats, plain, ["\n"], max_new)

    def summarise(self, texts: list[str]) -> list[str]:
        """A short summary of each text."""
        template = self.target.options.get("summarise_prompt", DEFAULT_SUMMARISE_PROMPT)
        chats = [[{"role": "user", "content": template.format(text=text)}] for text in texts]
        plain = [f"{text}\n\nTL;DR:" for text in texts]
        max_new = int(self.target.options.get("summarise_max_new_tokens", 128))
        return self._instruct(chats, plain, ["\n\n"], max_new)
