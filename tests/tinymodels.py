"""Tiny real transformers models with random weights, built at test time.

Each ``build_*`` function writes a complete model folder (config, safetensors
weights, tokenizer) into the folder it is given and returns that folder, so the
backends' real loading and inference code runs in seconds without any model
hub. Weights are random but seeded, so a folder is the same on every run; the
models' outputs are well-formed, not meaningful.

BERT-family builders reuse the vocabulary of the bundled all-MiniLM-L6-v2
(``BertTokenizerFast`` from its ``vocab.txt``), with 32 hidden units, 2 layers
and 2 heads (about 1M parameters, 4 MB), and a 128-token limit so that long
inputs exercise truncation and windowing.

Keep each builder a self-contained function: one per architecture.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import (
    BertConfig,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertModel,
    BertTokenizerFast,
)

from inference.backends.bundled import minilm_dir

TINY_BERT_MAX_LENGTH = 128
NLI_LABELS = ("contradiction", "neutral", "entailment")


def _bert_tokenizer() -> BertTokenizerFast:
    """An uncased WordPiece tokenizer over the bundled MiniLM vocabulary."""
    return BertTokenizerFast(
        vocab_file=str(minilm_dir() / "vocab.txt"),
        do_lower_case=True,
        model_max_length=TINY_BERT_MAX_LENGTH,
    )


def _bert_config(tokenizer: BertTokenizerFast, **extra: object) -> BertConfig:
    """A tiny BERT configuration whose embedding table matches ``tokenizer``."""
    return BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=TINY_BERT_MAX_LENGTH,
        pad_token_id=tokenizer.pad_token_id,
        **extra,
    )


def _save(model: torch.nn.Module, tokenizer: BertTokenizerFast, path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def build_tiny_bert_classifier(
    path: Path,
    labels: list[str],
    multi_label: bool = True,
    *,
    thresholds: dict[str, float] | None = None,
    pooling: str | None = None,
    seed: int = 0,
) -> Path:
    """A ``BertForSequenceClassification`` over ``labels`` (like the emotion model).

    ``multi_label`` sets ``problem_type`` to ``multi_label_classification``
    (else ``single_label_classification``); ``thresholds`` and ``pooling`` are
    written into ``config.json`` when given.
    """
    tokenizer = _bert_tokenizer()
    extra: dict[str, object] = {
        "id2label": dict(enumerate(labels)),
        "label2id": {label: i for i, label in enumerate(labels)},
        "problem_type": (
            "multi_label_classification"
            if multi_label
            else "single_label_classification"
        ),
    }
    if thresholds is not None:
        extra["thresholds"] = thresholds
    if pooling is not None:
        extra["pooling"] = pooling
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = BertForSequenceClassification(_bert_config(tokenizer, **extra))
    return _save(model, tokenizer, Path(path))


def build_tiny_sentence_encoder(path: Path, *, seed: int = 0) -> Path:
    """A bare ``BertModel`` (like all-MiniLM-L6-v2, without its training)."""
    tokenizer = _bert_tokenizer()
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = BertModel(_bert_config(tokenizer))
    return _save(model, tokenizer, Path(path))


def build_tiny_nli(path: Path, *, seed: int = 0) -> Path:
    """A 3-way NLI ``BertForSequenceClassification``: contradiction, neutral, entailment."""
    tokenizer = _bert_tokenizer()
    config = _bert_config(
        tokenizer,
        id2label=dict(enumerate(NLI_LABELS)),
        label2id={label: i for i, label in enumerate(NLI_LABELS)},
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = BertForSequenceClassification(config)
    return _save(model, tokenizer, Path(path))


def build_tiny_extractive_qa(path: Path, *, seed: int = 0) -> Path:
    """A ``BertForQuestionAnswering`` (start and end logits per token)."""
    tokenizer = _bert_tokenizer()
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = BertForQuestionAnswering(_bert_config(tokenizer))
    return _save(model, tokenizer, Path(path))


# --- generative models (GPT-2, T5) -------------------------------------------
# Their tokenizers are trained at build time with the ``tokenizers`` library on
# the small English corpus below (under a second), so no vocabulary file is
# needed. Imports are local to keep this section self-contained.

TINY_GENERATIVE_MAX_LENGTH = 128
# tiny-gpt2 has room for MAX_NEW_TOKENS new tokens after a short prompt, so a test can hold a
# job running long enough to act on it (cancel a stream) whatever the machine's speed.
TINY_GPT2_POSITIONS = 1024
TINY_ENGLISH_CORPUS = (
    "Once upon a time there was a little fox who lived in the forest.",
    "The fox liked to run through the trees and play with the birds.",
    "One day the fox found a small house at the end of the road.",
    "An old woman lived in the house with her cat and her dog.",
    "She asked the fox: what are you doing here, and where is your home?",
    "The weather today is sunny and warm, with a light wind from the west.",
    "Paris is the capital of France. Berlin is the capital of Germany.",
    "Machine learning models turn text into numbers and numbers into text.",
    "Summarise the article in two sentences, then answer the question.",
    "Question: who wrote the letter? Answer: the teacher wrote it.",
    "I am so happy today! This is the best day of my life.",
    "We were sad and angry when the train was late again.\nIt was 10:45 (not 9:30).",
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz 0123456789",
    "Punctuation: . , ; : ! ? ' \" ( ) [ ] - _ / & % $ # @ * + = < > ~",
)


def build_tiny_gpt2(path: Path, *, seed: int = 0) -> Path:
    """A ``GPT2LMHeadModel`` with a byte-level BPE tokenizer (``GPT2TokenizerFast``).

    32 hidden units, 2 layers, 2 heads, 1024 positions; ``<|endoftext|>`` is
    bos, eos and unk, and there is no pad token (as in GPT-2).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

    end = "<|endoftext|>"
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=[end], show_progress=False)
    backend.train_from_iterator(TINY_ENGLISH_CORPUS, trainer)
    tokenizer = GPT2TokenizerFast(
        tokenizer_object=backend,
        bos_token=end,
        eos_token=end,
        unk_token=end,
        model_max_length=TINY_GPT2_POSITIONS,
    )
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=TINY_GPT2_POSITIONS,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = GPT2LMHeadModel(config)
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


# ChatML, as SmolLM2-Instruct's own template writes it (the tiny tokenizer has no <|im_start|> token: the
# template's text is tokenised as plain text, which is enough to test that the template is applied).
TINY_CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def build_tiny_chat_gpt2(path: Path, *, seed: int = 0) -> Path:
    """The tiny GPT-2 with a chat template: a model that can serve the chat kind."""
    from transformers import AutoTokenizer

    build_tiny_gpt2(path, seed=seed)
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.chat_template = TINY_CHAT_TEMPLATE
    tokenizer.save_pretrained(path)
    return Path(path)


def build_tiny_t5(path: Path, *, seed: int = 0) -> Path:
    """A ``T5ForConditionalGeneration`` with a SentencePiece-style Unigram tokenizer.

    ``T5TokenizerFast`` with ``<pad>`` (0, also the decoder start), ``</s>`` (1,
    appended to every input) and ``<unk>`` (2); d_model 32, 2+2 layers, 4 heads.
    """
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import T5Config, T5ForConditionalGeneration, T5TokenizerFast

    backend = Tokenizer(models.Unigram())
    backend.normalizer = normalizers.NFKC()
    backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    backend.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    trainer = trainers.UnigramTrainer(
        vocab_size=300,
        special_tokens=["<pad>", "</s>", "<unk>"],
        unk_token="<unk>",
        show_progress=False,
    )
    backend.train_from_iterator(TINY_ENGLISH_CORPUS, trainer)
    eos_id = backend.token_to_id("</s>")
    backend.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", eos_id)]
    )
    tokenizer = T5TokenizerFast(
        tokenizer_object=backend,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        extra_ids=0,
        model_max_length=TINY_GENERATIVE_MAX_LENGTH,
    )
    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_heads=4,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = T5ForConditionalGeneration(config)
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


# A few sentences in CLIP's prompt style, to learn the tiny CLIP tokenizer's merges from.
_CLIP_CORPUS = (
    "a photo of a cat. a photo of a dog. a photo of a car. a photo of a bird. "
    "a photo of a rocket. a photo of an airplane. a photo of a cup of espresso. "
    "a photo of tea. a photo of beer. a tabby cat sleeping on a sofa. "
    "a red sports car on the road. a rocket launch into the sky at night."
)


def build_tiny_clip(path: Path, *, seed: int = 0, num_merges: int = 120) -> Path:
    """A ``CLIPModel`` (hidden 32, 2 layers, 32-pixel images, 8-pixel patches) with its processor.

    The tokenizer is a real CLIP byte-level BPE: ``vocab.json`` and
    ``merges.txt`` in CLIP's format (byte symbols, ``</w>`` word ends,
    ``<|startoftext|>`` / ``<|endoftext|>``) with ``num_merges`` merges learnt
    here from a few prompt-like sentences, so that ``CLIPProcessor`` and
    ``CLIPTokenizerFast.from_pretrained(path)`` load it like a hub folder.
    """
    import json
    import re
    import tempfile
    from collections import Counter

    from transformers import (
        CLIPConfig,
        CLIPImageProcessor,
        CLIPModel,
        CLIPProcessor,
        CLIPTokenizer,
        CLIPTokenizerFast,
    )
    from transformers.models.clip.tokenization_clip import bytes_to_unicode

    byte_symbols = list(bytes_to_unicode().values())
    words = Counter(
        "".join(bytes_to_unicode()[b] for b in word.encode("utf-8"))
        for word in re.findall(r"[a-z]+|[0-9]|[^\sa-z0-9]+", _CLIP_CORPUS.lower())
    )
    # Words as symbol tuples, the last symbol carrying CLIP's "</w>" word end.
    spelled = {word: (*word[:-1], word[-1] + "</w>") for word in words}
    vocab = byte_symbols + [symbol + "</w>" for symbol in byte_symbols]
    merges: list[tuple[str, str]] = []
    for _ in range(num_merges):
        pairs: Counter[tuple[str, str]] = Counter()
        for word, symbols in spelled.items():
            for pair in zip(symbols, symbols[1:], strict=False):
                pairs[pair] += words[word]
        if not pairs:
            break
        best = max(pairs, key=lambda pair: (pairs[pair], pair))
        merges.append(best)
        vocab.append(best[0] + best[1])
        for word, symbols in spelled.items():
            merged: list[str] = []
            i = 0
            while i < len(symbols):
                if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == best:
                    merged.append(symbols[i] + symbols[i + 1])
                    i += 2
                else:
                    merged.append(symbols[i])
                    i += 1
            spelled[word] = tuple(merged)
    vocab += ["<|startoftext|>", "<|endoftext|>"]

    path.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        vocab_file = Path(scratch) / "vocab.json"
        merges_file = Path(scratch) / "merges.txt"
        vocab_file.write_text(json.dumps({token: i for i, token in enumerate(vocab)}), encoding="utf-8")
        merges_file.write_text(
            "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges),
            encoding="utf-8",
        )
        slow = CLIPTokenizer(vocab_file=str(vocab_file), merges_file=str(merges_file), model_max_length=77)
        slow.save_pretrained(scratch)
        tokenizer = CLIPTokenizerFast.from_pretrained(scratch)

    image_processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    config = CLIPConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "max_position_embeddings": 77,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": 32,
            "patch_size": 8,
        },
        projection_dim=32,
    )
    torch.manual_seed(seed)
    model = CLIPModel(config).eval()
    model.save_pretrained(path)
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(path)
    return path


# --- BART (BART-MNLI, DistilBART) and DistilBERT -------------------------------------------------------


TINY_BART_POSITIONS = 1024


def _tiny_bart_tokenizer():
    """A byte-level BPE ``BartTokenizerFast`` (``<s>`` 0, ``<pad>`` 1, ``</s>`` 2, ``<unk>`` 3, ``<mask>`` 4)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import BartTokenizerFast

    special = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    backend = Tokenizer(models.BPE(unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=special, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    backend.train_from_iterator(TINY_ENGLISH_CORPUS, trainer)
    backend.post_processor = processors.RobertaProcessing(sep=("</s>", 2), cls=("<s>", 0))
    return BartTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>", sep_token="</s>",
                             cls_token="<s>", unk_token="<unk>", pad_token="<pad>", mask_token="<mask>",
                             model_max_length=TINY_GENERATIVE_MAX_LENGTH)


def _tiny_bart_config(tokenizer, **extra: object):
    from transformers import BartConfig

    return BartConfig(
        vocab_size=len(tokenizer), d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
        # room for the summaries' 200 new tokens, as BART's 1,024 positions have
        max_position_embeddings=TINY_BART_POSITIONS, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.eos_token_id, forced_eos_token_id=tokenizer.eos_token_id, **extra,
    )


def build_tiny_bart_mnli(path: Path, *, seed: int = 0) -> Path:
    """A 3-way NLI ``BartForSequenceClassification`` (like facebook/bart-large-mnli's labels)."""
    from transformers import BartForSequenceClassification

    tokenizer = _tiny_bart_tokenizer()
    config = _tiny_bart_config(tokenizer, id2label=dict(enumerate(NLI_LABELS)),
                               label2id={label: i for i, label in enumerate(NLI_LABELS)})
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = BartForSequenceClassification(config)
    return _save(model, tokenizer, Path(path))


def build_tiny_bart(path: Path, *, seed: int = 0) -> Path:
    """A ``BartForConditionalGeneration`` (like sshleifer/distilbart-cnn-12-6, without its training)."""
    from transformers import BartForConditionalGeneration

    tokenizer = _tiny_bart_tokenizer()
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = BartForConditionalGeneration(_tiny_bart_config(tokenizer))
    return _save(model, tokenizer, Path(path))


def build_tiny_distilbert_qa(path: Path, *, seed: int = 0) -> Path:
    """A ``DistilBertForQuestionAnswering`` over the bundled MiniLM vocabulary."""
    from transformers import DistilBertConfig, DistilBertForQuestionAnswering, DistilBertTokenizerFast

    tokenizer = DistilBertTokenizerFast(vocab_file=str(minilm_dir() / "vocab.txt"), do_lower_case=True,
                                        model_max_length=TINY_BERT_MAX_LENGTH)
    config = DistilBertConfig(vocab_size=len(tokenizer), dim=32, n_layers=2, n_heads=2, hidden_dim=64,
                              max_position_embeddings=TINY_BERT_MAX_LENGTH, pad_token_id=tokenizer.pad_token_id)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = DistilBertForQuestionAnswering(config)
    return _save(model, tokenizer, Path(path))
