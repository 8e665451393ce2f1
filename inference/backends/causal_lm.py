"""Decoder-only language models (GPT-2, Llama, SmolLM2, ...): family ``causal-lm``.

Loads ``AutoModelForCausalLM`` + ``AutoTokenizer`` from a transformers folder,
or from a GGUF file, which the first load converts once into a safetensors
transformers folder under ``target.cache_dir`` (``backends/gguf.py``).

Operations: ``generate`` (the prompt is continued as plain text, never
wrapped in a chat template), ``chat`` (a conversation through the tokenizer's
own chat template; a model without one cannot chat), ``answer`` and
``summarise`` (instruction prompts through the chat template when there is
one, greedy).

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

The generation machinery (:class:`GenerativeBackend`, ``backends/generation.py``)
is shared with the ``seq2seq`` family.
"""

from __future__ import annotations

from typing import Any, ClassVar

from transformers import AutoModelForCausalLM, AutoTokenizer

from inference.backends.base import BackendError, LoadTarget
from inference.backends.generation import GenerativeBackend
from inference.backends.gguf import converted_gguf_folder, gguf_source, load_gguf
from inference.kinds.operations import OnText, PromptGenerations

DEFAULT_ANSWER_PROMPT = (
    "Answer the questions using only this text. Keep answers short.\n\nText: {context}\n\nQuestion: {question}"
)
DEFAULT_SUMMARISE_PROMPT = "Summarise the following text in a few sentences.\n\n{text}"


class CausalLMBackend(GenerativeBackend):
    """A decoder-only language model: text generation, answers and summaries."""

    family: ClassVar[str] = "causal-lm"
    operations: ClassVar[frozenset[str]] = frozenset({"generate", "chat", "answer", "summarise"})

    @classmethod
    def load(cls, target: LoadTarget) -> CausalLMBackend:
        """Load from a transformers folder, or from a GGUF file through the conversion cache."""
        gguf_path = gguf_source(target)
        if gguf_path is not None and not gguf_path.is_file():
            raise BackendError(f"the GGUF file {gguf_path} does not exist")
        if gguf_path is None:
            folder = target.path
        elif target.cache_dir is None:
            model, tokenizer = load_gguf(gguf_path)  # no cache: dequantise on every load
            return cls(target, model.to(target.dtype), tokenizer)
        else:
            folder = converted_gguf_folder(gguf_path, target.cache_dir)
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
        return [replies.texts[0].strip() for replies in outputs]

    def chat(
        self, conversations: list[list[dict[str, str]]], params: dict[str, Any], on_text: OnText | None = None
    ) -> list[PromptGenerations]:
        """The assistant's next message in each conversation, ``num_generations`` times, with token counts."""
        if not self.tokenizer.chat_template:
            raise BackendError(f"the model {self.target.model_id} has no chat template, so it cannot chat "
                               "(use text-generation with it)")
        texts = [
            self.tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
            for chat in conversations
        ]
        # the template already holds the special tokens the model expects
        return self.generate_counted(texts, params, on_text, add_special_tokens=False)

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
